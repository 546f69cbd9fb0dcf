"""Unit tests of the bundle format on small synthetic inputs: sign, verify, tamper, split, delta."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from deployer.bundle import keys
from deployer.bundle.archive import PART_RE, parse_size
from deployer.bundle.build import BundleMeta, write_signed
from deployer.bundle.errors import (
    BundleInputError,
    BundleSignatureError,
    BundleVerificationError,
    ProblemKind,
)
from deployer.bundle.manifest import Kind, Manifest
from deployer.bundle.progress import Reporter
from deployer.bundle.providers import Staged, stage
from deployer.bundle.unpack import unpack
from deployer.bundle.verify import verify_bundle, verify_tree

META = BundleMeta("unit", "vm", "bookworm", "10.5.2")
EPOCH = 1704067200


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    keys.generate(folder, with_repo_key=False)
    return folder


@pytest.fixture(scope="module")
def other_keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("other-keys")
    keys.generate(folder, with_repo_key=False)
    return folder


def _files(root: Path, contents: dict[str, bytes]) -> list[Staged]:
    staged = []
    for path, data in sorted(contents.items()):
        source = root / "src" / path
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(data)
        kind = Kind.BINARY if path.startswith("bin/") else Kind.OTHER
        staged.append(stage(source, path, kind=kind, name=Path(path).name, version="1", origin="test"))
    return staged


CONTENT = {
    "apt/pool/main/a_1_amd64.deb": b"deb a " * 1000,
    "bin/weed": b"\x7fELF" + bytes(range(256)) * 40,
    "wheels/x-1-py3-none-any.whl": b"wheel x",
    "mattermost/mattermost-10.5.2-linux-amd64.tar.gz": b"\x1f\x8b" + b"t" * 5000,
}


def make(
    tmp: Path,
    keydir: Path,
    contents: dict[str, bytes] = CONTENT,
    *,
    since: Path | None = None,
    split: int | None = None,
    name: str = "unit.tar.zst",
) -> tuple[Manifest, list[Path]]:
    work = tmp / f"work-{name}"
    work.mkdir(parents=True, exist_ok=True)
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    return write_signed(
        _files(work, contents),
        META,
        out / name,
        keys.load_private(keydir / "bundle.key"),
        work=work,
        epoch=EPOCH,
        since=since,
        split=split,
        reporter=Reporter(quiet=True),
    )


def _noise(seed: int, size: int) -> bytes:
    """Incompressible, yet the same every run."""
    return hashlib.shake_256(str(seed).encode()).digest(size)


def _tar_bytes(bundle: Path) -> bytes:
    with bundle.open("rb") as handle:
        return zstandard.ZstdDecompressor().stream_reader(handle).read()


def _rewrite(bundle: Path, tar_data: bytes) -> None:
    bundle.write_bytes(zstandard.ZstdCompressor().compress(tar_data))


def test_build_then_verify(tmp_path: Path, keydir: Path) -> None:
    manifest, outputs = make(tmp_path, keydir)
    checked = verify_bundle(outputs[0], keydir / "bundle.pub")
    assert checked == manifest
    assert {f.path for f in manifest.files} == {*CONTENT, "sbom.cdx.json"}
    with tarfile.open(fileobj=io.BytesIO(_tar_bytes(outputs[0]))) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[:2] == ["manifest.json", "manifest.sig"]
    assert names[2:] == sorted(names[2:])
    assert {(m.mtime, m.uid, m.gid) for m in members} == {(EPOCH, 0, 0)}
    assert next(m for m in members if m.name == "bin/weed").mode == 0o755


def test_manifest_fields(tmp_path: Path, keydir: Path) -> None:
    manifest, _ = make(tmp_path, keydir)
    assert (manifest.schema_version, manifest.environment, manifest.target_release) == (1, "unit", "bookworm")
    entry = manifest.by_path()["bin/weed"]
    assert (entry.kind, entry.size, entry.origin) == (Kind.BINARY, len(CONTENT["bin/weed"]), "test")
    sbom = json.loads((tmp_path / "work-unit.tar.zst" / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert len(sbom["components"]) == len(CONTENT)


def test_same_inputs_give_identical_bytes(tmp_path: Path, keydir: Path) -> None:
    _, first = make(tmp_path / "a", keydir)
    _, second = make(tmp_path / "b", keydir)  # other folders, other source mtimes
    assert first[0].read_bytes() == second[0].read_bytes()


def test_one_changed_byte_is_named(tmp_path: Path, keydir: Path) -> None:
    _, outputs = make(tmp_path, keydir)
    data = bytearray(_tar_bytes(outputs[0]))
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        member = tar.getmember("wheels/x-1-py3-none-any.whl")
    data[member.offset_data + 2] ^= 0x01
    _rewrite(outputs[0], bytes(data))
    with pytest.raises(BundleVerificationError) as caught:
        verify_bundle(outputs[0], keydir / "bundle.pub")
    assert [(p.kind, p.path) for p in caught.value.problems] == [
        (ProblemKind.MODIFIED, "wheels/x-1-py3-none-any.whl")
    ]
    assert "wheels/x-1-py3-none-any.whl" in caught.value.render()


MIXED = {
    "a.bin": _noise(4, 600_000),
    "m.txt": b"".join(b"line %d of a compressible file\n" % i for i in range(40_000)),
    "z.bin": _noise(5, 600_000),
}


@pytest.mark.parametrize(("where", "named"), [(0.25, {"a.bin"}), (0.5, set(MIXED)), (0.75, {"z.bin"})])
def test_one_changed_byte_in_the_compressed_file_is_named(
    tmp_path: Path, keydir: Path, where: float, named: set[str]
) -> None:
    _, outputs = make(tmp_path, keydir, MIXED)
    data = bytearray(outputs[0].read_bytes())
    data[int(len(data) * where)] ^= 0x10
    outputs[0].write_bytes(bytes(data))
    with pytest.raises(BundleVerificationError) as caught:
        verify_bundle(outputs[0], keydir / "bundle.pub")
    files = {p.path for p in caught.value.problems if p.kind is ProblemKind.MODIFIED} - {"(bundle)"}
    assert files
    assert files <= named


def test_changed_manifest_breaks_the_signature(tmp_path: Path, keydir: Path) -> None:
    _, outputs = make(tmp_path, keydir)
    data = bytearray(_tar_bytes(outputs[0]))
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        member = tar.getmember("manifest.json")
    at = data.index(b'"10.5.2"', member.offset_data)
    data[at + 1 : at + 7] = b"10.5.3"
    _rewrite(outputs[0], bytes(data))
    with pytest.raises(BundleSignatureError):
        verify_bundle(outputs[0], keydir / "bundle.pub")


def test_extra_and_missing_files_are_named(tmp_path: Path, keydir: Path) -> None:
    _, outputs = make(tmp_path, keydir)
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(_tar_bytes(outputs[0]))) as source,
        tarfile.open(fileobj=out, mode="w") as tar,
    ):
        for member in source.getmembers():
            if member.name != "bin/weed":
                tar.addfile(member, source.extractfile(member))
        extra = tarfile.TarInfo("apt/pool/main/evil_1_amd64.deb")
        extra.size = 4
        tar.addfile(extra, io.BytesIO(b"evil"))
    _rewrite(outputs[0], out.getvalue())
    with pytest.raises(BundleVerificationError) as caught:
        verify_bundle(outputs[0], keydir / "bundle.pub")
    found = {(p.kind, p.path) for p in caught.value.problems}
    assert found == {
        (ProblemKind.MISSING, "bin/weed"),
        (ProblemKind.EXTRA, "apt/pool/main/evil_1_amd64.deb"),
    }


def test_wrong_key_is_refused(tmp_path: Path, keydir: Path, other_keydir: Path) -> None:
    _, outputs = make(tmp_path, keydir)
    with pytest.raises(BundleSignatureError) as caught:
        verify_bundle(outputs[0], other_keydir / "bundle.pub")
    trusted = keys.key_id(keys.load_public(other_keydir / "bundle.pub"))
    signer = keys.key_id(keys.load_public(keydir / "bundle.pub"))
    assert trusted in caught.value.message
    assert signer in caught.value.message


@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_bundle_is_refused(tmp_path: Path, keydir: Path, keep: float) -> None:
    _, outputs = make(tmp_path, keydir, {"big.bin": _noise(1, 300_000)})
    data = outputs[0].read_bytes()
    outputs[0].write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(BundleVerificationError) as caught:
        verify_bundle(outputs[0], keydir / "bundle.pub")
    assert any(p.kind is ProblemKind.TRUNCATED for p in caught.value.problems)


def test_truncated_before_the_manifest_is_refused(tmp_path: Path, keydir: Path) -> None:
    _, outputs = make(tmp_path, keydir)
    outputs[0].write_bytes(outputs[0].read_bytes()[:40])
    with pytest.raises(BundleVerificationError, match=r"truncated|not a bundle"):
        verify_bundle(outputs[0], keydir / "bundle.pub")


def test_unsigned_tarball_is_refused(tmp_path: Path, keydir: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    bundle = tmp_path / "plain.tar.zst"
    _rewrite(bundle, out.getvalue())
    with pytest.raises(BundleSignatureError, match="unsigned"):
        verify_bundle(bundle, keydir / "bundle.pub")


BIG = {
    "one.bin": _noise(2, 1_500_000),
    "two.bin": _noise(3, 1_500_000),
}


def test_split_round_trip(tmp_path: Path, keydir: Path) -> None:
    manifest, outputs = make(tmp_path, keydir, BIG, split=1024 * 1024)
    assert [p.name for p in outputs] == [f"unit.tar.zst.part00{i}-of-003" for i in (1, 2, 3)]
    assert all(p.stat().st_size <= 1024 * 1024 for p in outputs)
    assert verify_bundle(outputs[1], keydir / "bundle.pub") == manifest
    assert verify_bundle(tmp_path / "out" / "unit.tar.zst", keydir / "bundle.pub") == manifest
    result = unpack(outputs[0], tmp_path / "store", keydir / "bundle.pub")
    assert (result.release_dir / "two.bin").read_bytes() == BIG["two.bin"]


def test_missing_part_is_named(tmp_path: Path, keydir: Path) -> None:
    _, outputs = make(tmp_path, keydir, BIG, split=1024 * 1024)
    outputs[1].unlink()
    with pytest.raises(BundleVerificationError) as caught:
        verify_bundle(outputs[0], keydir / "bundle.pub")
    assert "unit.tar.zst.part002-of-003" in caught.value.message


def test_missing_last_part_is_truncated(tmp_path: Path, keydir: Path) -> None:
    _, outputs = make(tmp_path, keydir, BIG, split=1024 * 1024)
    # Renamed as if the build had made two parts: numbering cannot tell, the stream can.
    outputs[2].unlink()
    for i, part in enumerate(outputs[:2], start=1):
        part.rename(part.with_name(f"unit.tar.zst.part00{i}-of-002"))
    with pytest.raises(BundleVerificationError) as caught:
        verify_bundle(tmp_path / "out" / "unit.tar.zst", keydir / "bundle.pub")
    assert any(p.kind is ProblemKind.TRUNCATED for p in caught.value.problems)


def test_rebuild_without_split_removes_old_parts(tmp_path: Path, keydir: Path) -> None:
    make(tmp_path, keydir, BIG, split=1024 * 1024)
    _, outputs = make(tmp_path, keydir, BIG)
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if PART_RE.match(p.name)) == []
    verify_bundle(outputs[0], keydir / "bundle.pub")


def test_delta_round_trip(tmp_path: Path, keydir: Path) -> None:
    old_manifest, old = make(tmp_path, keydir, name="old.tar.zst")
    changed = {**CONTENT, "wheels/x-1-py3-none-any.whl": b"wheel x, release 2", "bin/extra": b"new"}
    del changed["mattermost/mattermost-10.5.2-linux-amd64.tar.gz"]
    manifest_json = tmp_path / "old-manifest.json"
    manifest_json.write_bytes(old_manifest.to_bytes())
    delta_manifest, delta = make(tmp_path, keydir, changed, since=manifest_json, name="delta.tar.zst")
    carried = {f.path for f in delta_manifest.files if f.included}
    assert carried == {"wheels/x-1-py3-none-any.whl", "bin/extra", "sbom.cdx.json"}
    assert delta[0].stat().st_size < old[0].stat().st_size
    verify_bundle(delta[0], keydir / "bundle.pub")

    store = tmp_path / "store"
    with pytest.raises(BundleInputError, match="does not hold"):
        unpack(delta[0], store, keydir / "bundle.pub")
    assert [p.name for p in (store / "releases").iterdir()] == []
    unpack(old[0], store, keydir / "bundle.pub")
    result = unpack(delta[0], store, keydir / "bundle.pub")
    assert result.reused == 2
    assert verify_tree(result.release_dir, keydir / "bundle.pub") == delta_manifest
    for path, data in changed.items():
        assert (result.release_dir / path).read_bytes() == data
    assert (store / "unit").resolve() == result.release_dir.resolve()


def test_delta_from_a_bundle_file(tmp_path: Path, keydir: Path) -> None:
    _, old = make(tmp_path, keydir, name="old.tar.zst")
    manifest, _ = make(tmp_path, keydir, CONTENT, since=old[0], name="same.tar.zst")
    assert [f.path for f in manifest.files if f.included] == ["sbom.cdx.json"]


def test_unpack_of_a_tampered_bundle_leaves_nothing(tmp_path: Path, keydir: Path) -> None:
    _, outputs = make(tmp_path, keydir)
    data = bytearray(_tar_bytes(outputs[0]))
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        member = tar.getmember("mattermost/mattermost-10.5.2-linux-amd64.tar.gz")
    data[member.offset_data + 100] ^= 0xFF
    _rewrite(outputs[0], bytes(data))
    store = tmp_path / "store"
    with pytest.raises(BundleVerificationError):
        unpack(outputs[0], store, keydir / "bundle.pub")
    assert list((store / "releases").iterdir()) == []
    assert not (store / "unit").exists()


def test_unpacked_tree_detects_later_changes(tmp_path: Path, keydir: Path) -> None:
    _, outputs = make(tmp_path, keydir)
    result = unpack(outputs[0], tmp_path / "store", keydir / "bundle.pub")
    again = unpack(outputs[0], tmp_path / "store", keydir / "bundle.pub")
    assert again.already
    (result.release_dir / "bin" / "weed").write_bytes(b"changed")
    (result.release_dir / "stray").write_bytes(b"x")
    with pytest.raises(BundleVerificationError) as caught:
        verify_tree(result.release_dir, keydir / "bundle.pub")
    assert {(p.kind, p.path) for p in caught.value.problems} == {
        (ProblemKind.MODIFIED, "bin/weed"),
        (ProblemKind.EXTRA, "stray"),
    }


@pytest.mark.parametrize(
    ("text", "size"),
    [("1M", 1 << 20), ("700MiB", 700 << 20), ("4GB", 4_000_000_000), ("4.7G", int(4.7 * (1 << 30)))],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "12 parsecs", "-1M", "10k"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(BundleInputError):
        parse_size(text)


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    keys.generate(tmp_path, with_repo_key=False)
    with pytest.raises(BundleInputError, match="already exists"):
        keys.generate(tmp_path, with_repo_key=False)
