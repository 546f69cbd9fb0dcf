"""Builds the upgrade plan from the topology, the live nodes and the bundle: a pure function, no I/O."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from deployer.topology.model import Role, StorageType, Topology
from deployer.upgrade import layout as lay
from deployer.upgrade.errors import UpgradeRefusedError
from deployer.upgrade.model import (
    WORKSTATION,
    Backup,
    ClusterAgrees,
    CommandSucceeds,
    Gate,
    NodePing,
    NodeState,
    Phase,
    Rollback,
    Step,
    UpgradePlan,
    Upload,
)
from deployer.upgrade.versions import Strategy, Version, choose_strategy

# Throughputs behind the duration estimates; deliberately modest (a busy database, slow disks).
DUMP_BYTES_PER_SECOND = 40 * 1024 * 1024
TAR_BYTES_PER_SECOND = 80 * 1024 * 1024
# Seconds HAProxy waits for a drained node's requests to finish before websockets are cut.
DRAIN_WAIT_SECONDS = 30
# roles/mattermost mattermost_ready_timeout: what a node gets to answer after a start.
NODE_READY_SECONDS = 300
# The unit allows an hour (TimeoutStartSec=3600): migrations of a large database take long.
MIGRATION_SECONDS = 3600


@dataclass(frozen=True)
class Tarball:
    """The target release as the verified bundle lists it."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Sizes:
    """What the backups will hold, read from the live cluster; None when it could not be read."""

    database: int | None
    config: int | None
    data: int | None


def build_plan(
    topology: Topology,
    nodes: list[NodeState],
    target: Version,
    tarball: Tarball,
    sizes: Sizes,
    *,
    node_timeout: int = NODE_READY_SECONDS,
) -> UpgradePlan:
    """The one plan Mattermost's rules allow, or UpgradeRefusedError saying why there is none.

    node_timeout: seconds an upgraded node gets to answer its deep ping before it is rolled back.
    """
    app_names = [h.name for h in topology.with_role(Role.APP)]
    seen = {n.name for n in nodes}
    missing = [name for name in app_names if name not in seen]
    if missing or not app_names:
        raise UpgradeRefusedError(
            f"no live state for app node(s) {', '.join(missing) or '(none in the topology)'}",
            hint="every app node must answer before an upgrade is planned: `deployer health -e ENV`",
        )
    ordered = sorted(nodes, key=lambda n: app_names.index(n.name))
    strategy = choose_strategy({n.name: Version.parse(n.version) for n in ordered}, target)
    ctx = _Context(topology, ordered, target, tarball, sizes, node_timeout)
    if strategy is Strategy.NOTHING:
        steps: list[Step] = []
    elif strategy is Strategy.ROLLING:
        steps = ctx.rolling()
    else:
        steps = ctx.window()
    plan = UpgradePlan(
        environment=topology.name,
        target=str(target),
        strategy=strategy,
        nodes=ordered,
        tarball=tarball.path,
        tarball_sha256=tarball.sha256,
        release_dir=ctx.new_release,
        backup_dir=ctx.backup_dir,
        backups=ctx.backups() if steps else [],
        notes=ctx.notes(strategy),
        steps=steps,
    )
    check_plan(plan)
    return plan


def check_plan(plan: UpgradePlan) -> None:
    """Refuse a plan that skips a required step (a rule that holds for every plan, whoever made it)."""
    ids = [s.id for s in plan.steps]
    if len(set(ids)) != len(ids):
        raise UpgradeRefusedError("the plan names a step twice")
    changes = [i for i, s in enumerate(plan.steps) if s.phase is Phase.CHANGE]
    backups = [i for i, s in enumerate(plan.steps) if s.id.startswith("backup-")]
    if changes and not backups:
        raise UpgradeRefusedError("the plan changes the cluster without a backup", hint="this is a bug")
    if plan.strategy is Strategy.ROLLING:
        _check_rolling(plan, ids, backups, changes)
    if plan.strategy is Strategy.WINDOW:
        _check_window(plan, ids, backups)


def _check_rolling(plan: UpgradePlan, ids: list[str], backups: list[int], changes: list[int]) -> None:
    if backups and changes and max(backups) > min(changes):
        raise UpgradeRefusedError("a rolling plan must back up before any change")
    for step in plan.steps:
        if step.id.startswith("switch-"):
            node = step.id.removeprefix("switch-")
            if f"drain-{node}" not in ids[: ids.index(step.id)]:
                raise UpgradeRefusedError(f"{node} would be switched without being drained first")


def _check_window(plan: UpgradePlan, ids: list[str], backups: list[int]) -> None:
    migrating = [s for s in plan.steps if s.id.startswith("migrate-")]
    if len(migrating) != 1:
        raise UpgradeRefusedError("a maintenance window needs exactly one node running the migrations")
    first = ids.index(migrating[0].id)
    if not ("stop-apps" in ids[:first] and "close-frontends" in ids[:first]):
        raise UpgradeRefusedError("migrations may only run once every node is stopped and users are out")
    if max(backups) > first:
        raise UpgradeRefusedError("the database must be backed up before the migrations")


class _Context:
    def __init__(  # noqa: PLR0917 - build_plan's inputs, kept together
        self,
        topology: Topology,
        nodes: list[NodeState],
        target: Version,
        tarball: Tarball,
        sizes: Sizes,
        node_timeout: int,
    ) -> None:
        self.topology = topology
        self.node_timeout = node_timeout
        self.nodes = nodes
        self.target = target
        self.tarball = tarball
        self.sizes = sizes
        self.lbs = [h.name for h in topology.with_role(Role.LOADBALANCER)]
        self.new_release = lay.release_dir(str(target), tarball.sha256)
        self.file_name = tarball.path.rsplit("/", 1)[-1]
        self.uploaded = f"{lay.UPLOAD_DIR}/{self.file_name}"
        current = "-".join(sorted({n.version for n in nodes}))
        self.backup_dir = f"{lay.BACKUP_ROOT}/upgrade-{current}-to-{target}"
        self.backup_host = nodes[0].name
        self.local_data = topology.storage.type is not StorageType.S3

    # -- the two strategies ---------------------------------------------------------------------

    def rolling(self) -> list[Step]:
        todo = [n for n in self.nodes if n.version != str(self.target)]
        steps = [*self._backup_steps(), self._stage([n.name for n in todo])]
        for node in todo:
            steps += [self._drain(node), self._switch(node), self._ready(node)]
        steps.append(self._verify())
        return steps

    def window(self) -> list[Step]:
        names = [n.name for n in self.nodes]
        first, rest = self.nodes[0], self.nodes[1:]
        steps = [self._stage(names), self._close_frontends(), self._stop_apps()]
        steps += self._backup_steps(window=True)
        steps += [self._switch_all(), self._migrate(first)]
        steps += [self._start(node) for node in rest]
        steps += [self._open_frontends(), self._verify()]
        return steps

    # -- backups --------------------------------------------------------------------------------

    def backups(self) -> list[Backup]:
        found = [
            Backup(
                what="database (pg_dump custom format, through the write endpoint)",
                host=self.backup_host,
                path=f"{self.backup_dir}/mattermost.pgdump",
                estimated_bytes=self.sizes.database,
            ),
            Backup(
                what="config/ of every app node, on that node",
                host=", ".join(n.name for n in self.nodes),
                path=f"{self.backup_dir}/config.tar.gz",
                estimated_bytes=self.sizes.config,
            ),
        ]
        if self.local_data:
            found.append(
                Backup(
                    what="data/ (local file storage, shared by all nodes)",
                    host=self.backup_host,
                    path=f"{self.backup_dir}/data.tar.gz",
                    estimated_bytes=self.sizes.data,
                )
            )
        return found

    def _backup_steps(self, window: bool = False) -> list[Step]:
        dump = f"{self.backup_dir}/mattermost.pgdump"
        when = (
            "taken after every node stopped, so it holds the last write before the migrations"
            if window
            else "taken before any change; the cluster keeps serving meanwhile"
        )
        steps = [
            Step(
                id="backup-database",
                title="Back up the database",
                phase=Phase.PREPARE,
                hosts=[self.backup_host],
                why=f"The restore point if the new release fails ({when}). pg_dump connects through "
                "the write endpoint with the node's own credentials, so no password is typed.",
                commands=[
                    f"sudo install -d -m 0700 {self.backup_dir}",
                    lay.with_app_env(
                        f"exec pg_dump --format=custom --no-owner --file={dump} "
                        '--dbname="$MM_SQLSETTINGS_DATASOURCE"'
                    ),
                ],
                gate=Gate(
                    description="The dump is a readable pg_dump archive.",
                    checks=[
                        CommandSucceeds(
                            hosts=[self.backup_host], command=f"sudo pg_restore --list {dump} >/dev/null"
                        )
                    ],
                    by_hand=[f"sudo pg_restore --list {dump} | head"],
                    timeout_seconds=30,
                ),
                expected_seconds=_seconds(self.sizes.database, DUMP_BYTES_PER_SECOND, 30),
            ),
            Step(
                id="backup-config",
                title="Back up config/ on every app node",
                phase=Phase.PREPARE,
                hosts=[n.name for n in self.nodes],
                why="A rollback restores exactly this configuration next to the previous release.",
                commands=[
                    f"sudo install -d -m 0700 {self.backup_dir}",
                    f"sudo tar -C {lay.STATE} -czf {self.backup_dir}/config.tar.gz config",
                ],
                gate=Gate(
                    description="The archive holds config/config.json.",
                    checks=[
                        CommandSucceeds(
                            hosts=[n.name for n in self.nodes],
                            command=f"sudo tar -tzf {self.backup_dir}/config.tar.gz config/config.json",
                        )
                    ],
                    by_hand=[f"sudo tar -tzvf {self.backup_dir}/config.tar.gz"],
                    timeout_seconds=30,
                ),
                expected_seconds=10,
            ),
        ]
        if self.local_data:
            steps.append(
                Step(
                    id="backup-data",
                    title="Back up the local file storage (data/)",
                    phase=Phase.PREPARE,
                    hosts=[self.backup_host],
                    why="Files are not in S3, so they are part of the restore point.",
                    commands=[f"sudo tar -C {lay.STATE} -czf {self.backup_dir}/data.tar.gz data"],
                    gate=Gate(
                        description="The archive is readable.",
                        checks=[
                            CommandSucceeds(
                                hosts=[self.backup_host],
                                command=f"sudo tar -tzf {self.backup_dir}/data.tar.gz >/dev/null",
                            )
                        ],
                        by_hand=[f"sudo tar -tzf {self.backup_dir}/data.tar.gz | head"],
                        timeout_seconds=120,
                    ),
                    expected_seconds=_seconds(self.sizes.data, TAR_BYTES_PER_SECOND, 10),
                )
            )
        return steps

    # -- the release ----------------------------------------------------------------------------

    def _stage(self, hosts: list[str]) -> Step:
        release = self.new_release
        partial = f"{lay.RELEASES}/.{release.rsplit('/', 1)[-1]}.partial"
        unlink = " ".join(f'"$P/{inside}"' for inside, _ in lay.STATE_LINKS)
        links = "; ".join(f'ln -s {lay.STATE}/{under} "$P/{inside}"' for inside, under in lay.STATE_LINKS)
        # Unpacked into a hidden folder and published by one rename, as the role does.
        unpack = (
            f'set -e; P={partial}; rm -rf "$P"; install -d -o {lay.USER} -g {lay.USER} -m 0755 "$P"; '
            f'tar -xzf {self.uploaded} -C "$P" --strip-components=1 --no-same-owner; '
            f'chown -R {lay.USER}:{lay.USER} "$P"; rm -rf {unlink}; {links}; mv -T "$P" {release}'
        )
        checksum_line = f"{self.tarball.sha256}  {self.uploaded}"
        return Step(
            id="stage-release",
            title=f"Copy and unpack Mattermost {self.target} next to the running release",
            phase=Phase.PREPARE,
            hosts=hosts,
            why="Nothing running changes: the new release gets its own folder, with config/, data/, "
            "logs/, plugins/ and client/plugins/ linked to the kept state, as the mattermost role does.",
            upload=Upload(
                source=self.tarball.path,
                destination=self.uploaded,
                sha256=self.tarball.sha256,
                size=self.tarball.size,
            ),
            commands=[
                f"echo {shlex.quote(checksum_line)} | sha256sum --check --strict -",
                f"sudo test -x {release}/bin/mattermost || sudo sh -c {shlex.quote(unpack)}",
                f"rm -f {self.uploaded}",
            ],
            gate=Gate(
                description=f"{release}/bin/mattermost exists and its state folders are links.",
                checks=[
                    CommandSucceeds(
                        hosts=hosts, command=f"sudo test -x {release}/bin/mattermost -a -L {release}/config"
                    )
                ],
                by_hand=[f"ls -l {release} {release}/client"],
                timeout_seconds=30,
            ),
            expected_seconds=_seconds(self.tarball.size, TAR_BYTES_PER_SECOND, 20),
        )

    # -- rolling: one node at a time ------------------------------------------------------------

    def _drain(self, node: NodeState) -> Step:
        server = f"{lay.HAPROXY_BACKEND}/{node.name}"
        sessions = lay.haproxy_field(lay.HAPROXY_BACKEND, node.name, 5)
        return Step(
            id=f"drain-{node.name}",
            title=f"Drain {node.name} from the load balancers",
            phase=Phase.CHANGE,
            hosts=self.lbs,
            why="New requests go to the other nodes; running ones get up to "
            f"{DRAIN_WAIT_SECONDS}s, then websockets are cut so clients reconnect elsewhere.",
            commands=[
                lay.haproxy(f"set server {server} state drain"),
                f'for i in $(seq {DRAIN_WAIT_SECONDS}); do [ "$({sessions})" = 0 ] && break; sleep 1; done',
                lay.haproxy(f"set server {server} state maint"),
                lay.haproxy(f"shutdown sessions server {server}"),
            ],
            gate=Gate(
                description=f"Every load balancer shows {server} in MAINT.",
                checks=[CommandSucceeds(hosts=self.lbs, command=_lb_status(node.name, "MAINT"))],
                by_hand=[lay.haproxy_field(lay.HAPROXY_BACKEND, node.name, 18)],
                timeout_seconds=30,
            ),
            expected_seconds=DRAIN_WAIT_SECONDS + 5,
            rollback=[
                Rollback(host=lb, commands=[lay.haproxy(f"set server {server} state ready")])
                for lb in self.lbs
            ],
            unit=node.name,
        )

    def _switch(self, node: NodeState) -> Step:
        return Step(
            id=f"switch-{node.name}",
            title=f"Switch {node.name} to {self.target}",
            phase=Phase.CHANGE,
            hosts=[node.name],
            why="systemctl start returns once the node reported READY (Type=notify).",
            commands=[
                f"sudo systemctl stop {lay.SERVICE}",
                f"sudo ln -sfn {self.new_release} {lay.HOME}",
                f"sudo systemctl start {lay.SERVICE}",
            ],
            gate=self._node_gate(node),
            expected_seconds=60,
            rollback=[Rollback(host=node.name, commands=self._restore_node(node))],
            unit=node.name,
        )

    def _ready(self, node: NodeState) -> Step:
        server = f"{lay.HAPROXY_BACKEND}/{node.name}"
        return Step(
            id=f"ready-{node.name}",
            title=f"Put {node.name} back into the load balancers",
            phase=Phase.CHANGE,
            hosts=self.lbs,
            why="HAProxy sends it traffic again once its own health check passes (rise 2).",
            commands=[lay.haproxy(f"set server {server} state ready")],
            gate=Gate(
                description=f"Every load balancer shows {server} UP.",
                checks=[CommandSucceeds(hosts=self.lbs, command=_lb_status(node.name, "UP"))],
                by_hand=[lay.haproxy_field(lay.HAPROXY_BACKEND, node.name, 18)],
                timeout_seconds=60,
            ),
            expected_seconds=10,
            unit=node.name,
        )

    # -- maintenance window ---------------------------------------------------------------------

    def _close_frontends(self) -> Step:
        return Step(
            id="close-frontends",
            title="Close the Mattermost frontends of the load balancers (downtime starts)",
            phase=Phase.CHANGE,
            hosts=self.lbs,
            why="Users are kept out while the schema changes. Only the Mattermost frontends close: "
            "HAProxy keeps serving the database and S3 endpoints the nodes and backups need.",
            commands=[lay.haproxy(f"disable frontend {name}") for name in lay.HAPROXY_FRONTENDS],
            gate=Gate(
                description="Every load balancer shows the frontends PAUSED (STOP before HAProxy 2.4).",
                checks=[CommandSucceeds(hosts=self.lbs, command=_frontend_status("STOP|PAUSED"))],
                by_hand=[lay.haproxy("show stat") + " | grep FRONTEND"],
                timeout_seconds=30,
            ),
            expected_seconds=10,
            rollback=[
                Rollback(
                    host=lb,
                    commands=[lay.haproxy(f"enable frontend {name}") for name in lay.HAPROXY_FRONTENDS],
                )
                for lb in self.lbs
            ],
            unit="window",
        )

    def _stop_apps(self) -> Step:
        names = [n.name for n in self.nodes]
        return Step(
            id="stop-apps",
            title="Stop Mattermost on every app node",
            phase=Phase.CHANGE,
            hosts=names,
            why="No old node may run while the first new node migrates the schema.",
            commands=[f"sudo systemctl stop {lay.SERVICE}"],
            gate=Gate(
                description="mattermost.service is inactive on every app node.",
                checks=[CommandSucceeds(hosts=names, command=f"! systemctl is-active --quiet {lay.SERVICE}")],
                by_hand=[f"systemctl is-active {lay.SERVICE}"],
                timeout_seconds=60,
            ),
            expected_seconds=15,
            rollback=[Rollback(host=n, commands=[f"sudo systemctl start {lay.SERVICE}"]) for n in names],
            unit="window",
        )

    def _switch_all(self) -> Step:
        names = [n.name for n in self.nodes]
        return Step(
            id="switch-release",
            title=f"Point every app node at {self.target} (still stopped)",
            phase=Phase.CHANGE,
            hosts=names,
            commands=[f"sudo ln -sfn {self.new_release} {lay.HOME}"],
            gate=Gate(
                description=f"{lay.HOME} points at the new release on every node.",
                checks=[
                    CommandSucceeds(
                        hosts=names, command=f'[ "$(readlink {lay.HOME})" = {shlex.quote(self.new_release)} ]'
                    )
                ],
                by_hand=[f"readlink {lay.HOME}"],
                timeout_seconds=30,
            ),
            expected_seconds=5,
            rollback=[
                Rollback(
                    host=n.name,
                    commands=[
                        f"sudo ln -sfn {n.release_dir} {lay.HOME}",
                        f"sudo tar -C {lay.STATE} -xzf {self.backup_dir}/config.tar.gz",
                    ],
                )
                for n in self.nodes
            ],
            unit="window",
        )

    def _migrate(self, node: NodeState) -> Step:
        dump = f"{self.backup_dir}/mattermost.pgdump"
        restore = lay.with_app_env(
            f"exec pg_restore --clean --if-exists --no-owner --single-transaction "
            f'--dbname="$MM_SQLSETTINGS_DATASOURCE" {dump}'
        )
        return Step(
            id=f"migrate-{node.name}",
            title=f"Start {node.name} alone: it runs the schema migrations",
            phase=Phase.CHANGE,
            hosts=[node.name],
            why="Exactly one node migrates; the others stay stopped until it is healthy. "
            "systemctl start returns when the node is READY, after the migrations "
            "(the unit allows up to an hour).",
            commands=[f"sudo systemctl start {lay.SERVICE}"],
            gate=self._node_gate(node),
            expected_seconds=600,
            rollback=[
                Rollback(host=node.name, commands=[f"sudo systemctl stop {lay.SERVICE}"]),
                Rollback(host=self.backup_host, commands=[restore]),
            ],
            unit="window",
        )

    def _start(self, node: NodeState) -> Step:
        return Step(
            id=f"start-{node.name}",
            title=f"Start {node.name} on {self.target}",
            phase=Phase.CHANGE,
            hosts=[node.name],
            why="The schema is current, so this start migrates nothing.",
            commands=[f"sudo systemctl start {lay.SERVICE}"],
            gate=self._node_gate(node),
            expected_seconds=60,
            rollback=[Rollback(host=node.name, commands=[f"sudo systemctl stop {lay.SERVICE}"])],
            unit="window",
        )

    def _open_frontends(self) -> Step:
        names = [n.name for n in self.nodes]
        checks = [CommandSucceeds(hosts=self.lbs, command=_frontend_status("OPEN"))]
        checks += [CommandSucceeds(hosts=self.lbs, command=_lb_status(name, "UP")) for name in names]
        return Step(
            id="open-frontends",
            title="Open the Mattermost frontends again (downtime ends)",
            phase=Phase.CHANGE,
            hosts=self.lbs,
            commands=[lay.haproxy(f"enable frontend {name}") for name in lay.HAPROXY_FRONTENDS],
            gate=Gate(
                description="Every load balancer has its frontends OPEN and every app node UP.",
                checks=checks,
                by_hand=[lay.haproxy("show stat") + f" | grep -E 'FRONTEND|{lay.HAPROXY_BACKEND}'"],
                timeout_seconds=60,
            ),
            expected_seconds=10,
            unit="window",
        )

    # -- shared ---------------------------------------------------------------------------------

    def _node_gate(self, node: NodeState) -> Gate:
        base = f"http://{node.address}:{lay.APP_PORT}"
        return Gate(
            description=f"{node.name} answers its deep ping OK from {self.target} and is alive in the "
            "cluster status on that version.",
            checks=[
                NodePing(node=node.name, address=node.address, port=lay.APP_PORT, version=str(self.target)),
                ClusterAgrees(
                    ask=[f"{node.address}:{lay.APP_PORT}"], nodes=[node.name], version=str(self.target)
                ),
            ],
            by_hand=[
                (
                    f"curl -sS -D - '{base}/api/v4/system/ping?get_server_status=true'  "
                    f'# "status":"OK", X-Version-Id: {self.target}.…'
                ),
                f'curl -sS -H "Authorization: Bearer $MM_ADMIN_TOKEN" {base}/api/v4/cluster/status',
            ],
            timeout_seconds=self.node_timeout,
        )

    def _restore_node(self, node: NodeState) -> list[str]:
        return [
            f"sudo systemctl stop {lay.SERVICE}",
            f"sudo ln -sfn {node.release_dir} {lay.HOME}",
            f"sudo tar -C {lay.STATE} -xzf {self.backup_dir}/config.tar.gz",
            f"sudo systemctl start {lay.SERVICE}",
        ]

    def _verify(self) -> Step:
        base = f"http://{self.nodes[0].address}:{lay.APP_PORT}"
        return Step(
            id="verify-cluster",
            title=f"Verify: every node on {self.target}, one config hash",
            phase=Phase.VERIFY,
            hosts=[WORKSTATION],
            commands=[],
            gate=Gate(
                description="Cluster status lists every app node alive, on the target version, "
                "with equal config hashes.",
                checks=[
                    ClusterAgrees(
                        ask=[f"{n.address}:{lay.APP_PORT}" for n in self.nodes],
                        nodes=[n.name for n in self.nodes],
                        version=str(self.target),
                        same_config=True,
                    )
                ],
                by_hand=[
                    f'curl -sS -H "Authorization: Bearer $MM_ADMIN_TOKEN" {base}/api/v4/cluster/status',
                    f"deployer health -e {self.topology.name}",
                ],
                timeout_seconds=60,
            ),
            expected_seconds=10,
        )

    def notes(self, strategy: Strategy) -> list[str]:
        current = ", ".join(f"{n.name} {n.version}" for n in self.nodes)
        notes = [f"Live versions: {current}. Target: {self.target}."]
        if strategy is Strategy.NOTHING:
            return [*notes, "Every node already runs the target; there is nothing to do."]
        if strategy is Strategy.ROLLING:
            notes.append(
                "Patch release: nodes are upgraded one at a time, each drained from the load "
                "balancers first; users keep working. At most two releases of one minor line run "
                "at once, which Mattermost allows."
            )
        else:
            notes.append(
                "Minor or major release with schema migrations: a maintenance window. Users are "
                "out from 'close-frontends' until 'open-frontends'; exactly one node runs the "
                "migrations (`mattermost db migrate --save-plan` on a copy shows them beforehand)."
            )
        notes.append(
            "Roll back a failed step with its rollback commands, then the rollback commands of the "
            "completed steps of the same node (rolling) or of the whole window, newest first."
        )
        if not self.local_data:
            notes.append("Files live in S3, which the upgrade does not touch; they are not backed up here.")
        return notes


def _lb_status(server: str, state: str) -> str:
    return f"{lay.haproxy_field(lay.HAPROXY_BACKEND, server, 18)} | grep -q '^{state}'"


def _frontend_status(state: str) -> str:
    """`state`: one status or several separated by | (an extended regular expression)."""
    checks = [
        f"{lay.haproxy_field(name, 'FRONTEND', 18)} | grep -qxE '{state}'" for name in lay.HAPROXY_FRONTENDS
    ]
    return " && ".join(checks)


def _seconds(size: int | None, rate: int, floor: int) -> int:
    if size is None:
        return floor * 4
    return max(floor, -(-size // rate) + 5)
