"""The bundle commands through the CLI: exit codes and messages, never a traceback."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import json
import shutil
import tarfile
import threading
from pathlib import Path

import pytest
import zstandard

from deployer.bundle import keys
from deployer.bundle.content import BundlePlan, load_defaults, plan_for
from deployer.bundle.manifest import Kind
from deployer.bundle.providers import BuildContext, Staged, stage
from deployer.bundle.providers.mattermost import MattermostProvider
from deployer.topology import load_environment

DATA = Path(__file__).resolve().parent.parent / "data" / "bundle"


class FakeProvider:
    """Stands in for the network-bound providers: a few files derived from the plan."""

    name = "fake"

    def applies(self, plan: BundlePlan) -> bool:
        del plan
        return True

    def collect(self, ctx: BuildContext) -> list[Staged]:
        staged = []
        for package in ctx.plan.os_packages:
            source = ctx.work / f"{package}.deb"
            source.write_bytes(f"package {package}".encode() * 50)
            staged.append(
                stage(
                    source,
                    f"apt/pool/main/{package}.deb",
                    kind=Kind.DEB,
                    name=package,
                    version="1",
                    origin="fake",
                )
            )
        return staged


@pytest.fixture
def envdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "unit"
    shutil.copytree(DATA / "unit", folder)
    keys.generate(folder / "keys", with_repo_key=False)
    monkeypatch.setattr("deployer.bundle.build.default_providers", lambda: [FakeProvider()])
    return folder


def _build(run_cli, envdir: Path, *extra: str):
    return run_cli("bundle", "build", "-i", str(envdir), *extra)


def test_build_verify_inspect_unpack(run_cli, envdir: Path, tmp_path: Path) -> None:
    built = _build(run_cli, envdir)
    assert built.code == 0, built.err
    bundle = envdir / "out" / "unit.tar.zst"
    assert str(bundle) in built.out
    verified = run_cli("bundle", "verify", str(bundle), "--pubkey", str(envdir / "keys" / "bundle.pub"))
    assert verified.code == 0, verified.err
    assert verified.out.startswith("OK ")
    assert run_cli("bundle", "verify", "-i", str(envdir)).code == 0
    shown = run_cli("bundle", "inspect", str(bundle))
    assert shown.code == 0
    assert "postgresql-15" in shown.out
    as_json = json.loads(run_cli("bundle", "inspect", str(bundle), "--format", "json").out)
    assert as_json["manifest"]["environment"] == "unit"
    store = tmp_path / "store"
    unpacked = run_cli("bundle", "unpack", str(bundle), "--store", str(store), "-i", str(envdir))
    assert unpacked.code == 0, unpacked.err
    assert (store / "unit" / "apt" / "pool" / "main" / "patroni.deb").is_file()


def test_delta_and_diff_through_the_cli(run_cli, envdir: Path) -> None:
    assert _build(run_cli, envdir).code == 0
    first = envdir / "out" / "unit.tar.zst"
    keep = envdir / "first.tar.zst"
    first.rename(keep)
    topology = envdir / "topology.yml"
    topology.write_text(
        topology.read_text().replace("roles: [database, storage]", "roles: [database, loadbalancer]")
    )
    delta = _build(run_cli, envdir, "--since", str(keep))
    assert delta.code == 0, delta.err
    assert "delta: carries" in delta.out
    diff = run_cli("bundle", "diff", str(keep), str(first))
    assert diff.code == 0
    assert "+ deb             haproxy 1" in diff.out


def test_tampered_bundle_exit_3_names_the_file(run_cli, envdir: Path) -> None:
    assert _build(run_cli, envdir).code == 0
    bundle = envdir / "out" / "unit.tar.zst"
    data = bytearray(zstandard.ZstdDecompressor().stream_reader(bundle.open("rb")).read())
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        member = tar.getmember("apt/pool/main/chrony.deb")
    data[member.offset_data] ^= 0x20
    bundle.write_bytes(zstandard.ZstdCompressor().compress(bytes(data)))
    result = run_cli("bundle", "verify", "-i", str(envdir))
    assert result.code == 3
    assert "modified  apt/pool/main/chrony.deb" in result.err
    assert "Traceback" not in result.err


def test_wrong_key_exit_3(run_cli, envdir: Path, tmp_path: Path) -> None:
    assert _build(run_cli, envdir).code == 0
    keys.generate(tmp_path / "other", with_repo_key=False)
    result = run_cli(
        "bundle",
        "verify",
        str(envdir / "out" / "unit.tar.zst"),
        "--pubkey",
        str(tmp_path / "other" / "bundle.pub"),
    )
    assert result.code == 3
    assert "does not verify against the trusted key" in result.err


def test_signing_key_the_topology_does_not_trust(run_cli, envdir: Path, tmp_path: Path) -> None:
    keys.generate(tmp_path / "other", with_repo_key=False)
    result = _build(run_cli, envdir, "--key", str(tmp_path / "other" / "bundle.key"))
    assert result.code == 2
    assert "not the key the topology trusts" in result.err


def test_missing_part_exit_3(run_cli, envdir: Path) -> None:
    for name in ("unit.tar.zst.part001-of-003", "unit.tar.zst.part003-of-003"):
        (envdir / "out").mkdir(exist_ok=True)
        (envdir / "out" / name).write_bytes(b"x")
    result = run_cli("bundle", "verify", "-i", str(envdir))
    assert result.code == 3
    assert "unit.tar.zst.part002-of-003" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bundle", "verify", "nope.tar.zst", "--pubkey", "nope.pub"], "public key not found"),
        (["bundle", "verify", "nope.tar.zst"], "needs the bundle and the trusted public key"),
        (["bundle", "inspect", "nope.tar.zst"], "bundle not found"),
        (["bundle", "diff", "a.json", "b.json"], "cannot read a.json"),
        (["bundle", "unpack", "nope.tar.zst", "--store", "s", "--pubkey", "k.pub"], "public key not found"),
    ],
)
def test_bad_input_exit_2(
    run_cli, args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(*args)
    assert result.code == 2, result.err
    assert message in result.err
    assert "Traceback" not in result.err


def test_bad_split_and_missing_key_exit_2(run_cli, envdir: Path) -> None:
    result = _build(run_cli, envdir, "--split", "lots")
    assert (result.code, "'lots' is not a size" in result.err) == (2, True)
    (envdir / "keys" / "bundle.key").unlink()
    result = _build(run_cli, envdir)
    assert result.code == 2
    assert "bundle keygen" in result.err


def test_not_a_bundle_exit_3(run_cli, envdir: Path) -> None:
    (envdir / "out").mkdir()
    (envdir / "out" / "unit.tar.zst").write_bytes(b"this is not zstd at all")
    result = run_cli("bundle", "verify", "-i", str(envdir))
    assert result.code == 3
    assert "Traceback" not in result.err


def test_keygen_twice_exit_2(run_cli, tmp_path: Path) -> None:
    assert run_cli("bundle", "keygen", "-o", str(tmp_path / "k")).code == 0
    assert (tmp_path / "k" / "apt-repo.pub.asc").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK")
    again = run_cli("bundle", "keygen", "-o", str(tmp_path / "k"))
    assert again.code == 2
    assert "already exists" in again.err


def test_content_list_follows_the_roles() -> None:
    defaults = load_defaults()
    dev = plan_for(load_environment("dev"), defaults)
    staging = plan_for(load_environment("staging"), defaults)
    assert {"postgresql-15", "patroni", "haproxy", "keepalived", "etcd-server", "chrony"} <= set(
        dev.os_packages
    )
    assert "python3-pip" not in dev.os_packages  # dev has no bastion
    assert "python3-pip" in staging.os_packages
    assert dev.seaweedfs is not None
    assert dev.mattermost_file == "mattermost-10.5.2-linux-amd64.tar.gz"


def test_mattermost_tarball_from_a_url(
    run_cli, envdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    tarball = served / "mattermost-10.5.2-linux-amd64.tar.gz"
    tarball.write_bytes(gzip.compress(b"not really a server", mtime=0))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("DEPLOYER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("deployer.bundle.build.default_providers", lambda: [MattermostProvider()])
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{tarball.name}"
        result = _build(run_cli, envdir, "--mattermost-tarball", url)
        missing = _build(run_cli, envdir, "--mattermost-tarball", url + ".nope")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.code == 0, result.err
    manifest = json.loads(
        run_cli("bundle", "inspect", str(envdir / "out" / "unit.tar.zst"), "--format", "json").out
    )
    entry = next(f for f in manifest["manifest"]["files"] if f["kind"] == "release-tarball")
    assert (entry["path"], entry["origin"]) == (f"mattermost/{tarball.name}", url)
    assert missing.code == 2
    assert "cannot download" in missing.err
