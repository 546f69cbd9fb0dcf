"""Where the mattermost and loadbalancer roles put things on the hosts; the plan's commands use only these."""

from __future__ import annotations

import shlex

# roles/mattermost/defaults/main.yml and vars/main.yml (kept in step by a unit test).
HOME = "/opt/mattermost"
RELEASES = "/opt/mattermost-releases"
STATE = "/var/opt/mattermost"
ENV_FILE = "/etc/mattermost/mattermost.env"
USER = "mattermost"
SERVICE = "mattermost"
APP_PORT = 8065
# (folder inside a release, folder under STATE)
STATE_LINKS = (
    ("config", "config"),
    ("data", "data"),
    ("logs", "logs"),
    ("plugins", "plugins"),
    ("client/plugins", "client-plugins"),
)
BACKUP_ROOT = "/var/backups/mattermost"
UPLOAD_DIR = "/var/tmp"  # noqa: S108 - the hosts' spool folder for the copied tarball, checked by sha256

# roles/loadbalancer/templates/etc/haproxy/haproxy.cfg.j2.
HAPROXY_SOCKET = "/run/haproxy/admin.sock"
HAPROXY_BACKEND = "mattermost_app"
HAPROXY_FRONTENDS = ("mattermost_https", "mattermost_http")

# The load balancers carry no socat; python3 is on every host (Ansible needs it), so the
# runtime API is spoken through a one-line stdlib client.
_HAPROXY_CLIENT = (
    "import socket,sys;s=socket.socket(socket.AF_UNIX);"
    f's.connect("{HAPROXY_SOCKET}");'
    's.sendall(sys.argv[1].encode()+b"\\n");print(s.makefile().read(),end="")'
)


def release_dir(version: str, sha256: str) -> str:
    """The role's folder name for one release: <version>-<first 12 hex of the tarball's sha256>."""
    return f"{RELEASES}/{version}-{sha256[:12]}"


def haproxy(command: str) -> str:
    """One HAProxy runtime API command through the admin socket."""
    return f"sudo python3 -c {shlex.quote(_HAPROXY_CLIENT)} {shlex.quote(command)}"


def haproxy_field(proxy: str, server: str, field: int) -> str:
    """A command printing one `show stat` CSV field (5 current sessions, 18 status) of proxy/server."""
    program = f'$1=="{proxy}" && $2=="{server}" {{print ${field}}}'
    return f"{haproxy('show stat')} | awk -F, {shlex.quote(program)}"


def with_app_env(command: str) -> str:
    """Run as root with the node's own MM_* settings (the database DSN) in the environment."""
    return "sudo sh -c " + shlex.quote(f"set -a; . {ENV_FILE}; set +a; {command}")
