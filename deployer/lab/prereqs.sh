#!/usr/bin/env bash
# Makes this machine able to run the lab: Docker engine and debootstrap installed, dockerd
# answering. Idempotent: a second run only reports what is already there.
set -euo pipefail

log() { printf 'lab-prereqs: %s\n' "$*"; }

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root (installs packages, starts dockerd, builds the base image)" >&2
  exit 2
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "docker and debootstrap already installed"
fi

# Every lab host runs systemd, dbus and journald, each holding inotify instances; all of them
# count against root's one limit, and 128 (the default) runs out near 20 hosts: units then
# fail and hosts come up "degraded".
want_instances=1024
want_watches=524288
have_instances=$(cat /proc/sys/fs/inotify/max_user_instances)
have_watches=$(cat /proc/sys/fs/inotify/max_user_watches)
if ((have_instances < want_instances || have_watches < want_watches)); then
  if sysctl -q -w "fs.inotify.max_user_instances=$((have_instances > want_instances ? have_instances : want_instances))" \
    "fs.inotify.max_user_watches=$((have_watches > want_watches ? have_watches : want_watches))" 2>/dev/null; then
    log "raised inotify limits to $(cat /proc/sys/fs/inotify/max_user_instances) instances, $(cat /proc/sys/fs/inotify/max_user_watches) watches"
  else
    log "WARNING: cannot raise fs.inotify.max_user_instances (now $have_instances); labs beyond ~20 hosts will fail" >&2
  fi
else
  log "inotify limits are enough ($have_instances instances, $have_watches watches)"
fi

if docker info >/dev/null 2>&1; then
  log "dockerd already answers ($(docker version --format '{{.Server.Version}}'))"
  exit 0
fi

# No init system runs services in CI containers, so start the daemon by hand, detached.
log "starting dockerd (log: /var/log/dockerd.log)"
setsid dockerd --host unix:///var/run/docker.sock >/var/log/dockerd.log 2>&1 </dev/null &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "dockerd answers ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not answer within 30 s; last lines of /var/log/dockerd.log:" >&2
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
