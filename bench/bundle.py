"""Bundle benchmark: size and build time against `tar czf`, verify time against `sha256sum`, same files."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "standin"))

from deployer.bundle import keys  # noqa: E402
from deployer.bundle.build import BuildOptions, BundleMeta, build_environment, write_signed  # noqa: E402
from deployer.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, Kind  # noqa: E402
from deployer.bundle.progress import Reporter, human_size  # noqa: E402
from deployer.bundle.providers import stage  # noqa: E402
from deployer.bundle.unpack import unpack  # noqa: E402
from deployer.bundle.verify import verify_bundle  # noqa: E402
from deployer.topology import load_environment  # noqa: E402

SIZE_TARGET = 0.9
VERIFY_TARGET = 1.3
PRECOMPRESSED = (".deb", ".whl", ".gz")


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def real_files(env_name: str, work: Path) -> Path:
    """The environment's real bundle content (downloads come from build/cache), unpacked."""
    from build_tarball import build_tarball  # noqa: PLC0415 - the stand-in lives in tests/

    # A copy of the topology that trusts the bench's own throw-away key.
    source = load_environment(env_name)
    envdir = work / env_name
    envdir.mkdir()
    topology = source.topology_file.read_text()
    for value in (source.topology.bundle.path, source.topology.bundle.public_key):
        if value:
            topology = topology.replace(value, f"unused/{Path(value).name}")
    (envdir / "topology.yml").write_text(topology)
    env = load_environment(inventory=str(envdir))
    keydir = work / "keys"
    keys.generate(keydir)
    tarball = build_tarball(env.topology.mattermost.version, work / "standin")
    start = time.perf_counter()
    result = build_environment(
        env,
        BuildOptions(
            out_dir=work / "full",
            key=keydir / "bundle.key",
            mattermost_tarball=str(tarball),
            cache=ROOT / "build" / "cache" / "bundle",
        ),
        reporter=Reporter(quiet=True),
    )
    print(
        f"full build of {env_name} (downloads cached): {time.perf_counter() - start:.1f}s, "
        f"{len(result.manifest.files)} files, "
        f"{human_size(result.manifest.total_size)} -> {human_size(result.size)}"
    )
    release = unpack(result.outputs[0], work / "store", keydir / "bundle.pub").release_dir
    for name in (MANIFEST_NAME, SIGNATURE_NAME):
        (release / name).unlink()
    return release


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default="dev", help="environment whose real content is measured")
    parser.add_argument("--files", type=Path, help="measure this folder instead")
    parser.add_argument("--runs", type=int, default=3, help="verify/sha256sum repetitions (best taken)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bundle-", dir=ROOT / "build") as tmp:
        work = Path(tmp)
        files_dir = args.files or real_files(args.env, work)
        files = sorted(p for p in files_dir.rglob("*") if p.is_file())
        raw = sum(p.stat().st_size for p in files)
        pre = sum(p.stat().st_size for p in files if p.name.endswith(PRECOMPRESSED))
        keydir = work / "bench-keys"
        keys.generate(keydir, with_repo_key=False)
        staged = [
            stage(
                p,
                p.relative_to(files_dir).as_posix(),
                kind=Kind.OTHER,
                name=p.name,
                version="0",
                origin="bench",
            )
            for p in files
        ]
        target = work / "bench.tar.zst"

        def build() -> None:
            write_signed(
                staged,
                BundleMeta("bench", "vm", "bookworm", "0.0.0"),
                target,
                keys.load_private(keydir / "bundle.key"),
                work=work,
                epoch=0,
                since=None,
                split=None,
                reporter=Reporter(quiet=True),
            )

        gz = work / "bench.tar.gz"
        t_build = best_of(1, build)
        t_gz = best_of(
            1, lambda: subprocess.run(["tar", "czf", str(gz), "-C", str(files_dir), "."], check=True)
        )
        size_zst, size_gz = target.stat().st_size, gz.stat().st_size
        t_verify = best_of(args.runs, lambda: verify_bundle(target, keydir / "bundle.pub"))
        listing = "\0".join(str(p) for p in files).encode()
        t_sha = best_of(
            args.runs,
            lambda: subprocess.run(
                ["xargs", "-0", "sha256sum"], input=listing, stdout=subprocess.DEVNULL, check=True
            ),
        )
    size_ratio, verify_ratio = size_zst / size_gz, t_verify / t_sha
    size_verdict = "met" if size_ratio <= SIZE_TARGET else "MISSED"
    verify_verdict = "met" if verify_ratio <= VERIFY_TARGET else "MISSED"
    print(
        f"files: {len(files)}, {human_size(raw)} ({100 * pre / raw:.0f}% already compressed: .deb/.whl/.gz)"
    )
    print(
        f"size   bundle {human_size(size_zst):>10}   tar czf {human_size(size_gz):>10}   "
        f"ratio {size_ratio:.3f} (target <= {SIZE_TARGET}: {size_verdict})"
    )
    print(f"build  bundle {t_build:>9.1f}s   tar czf {t_gz:>9.1f}s   ratio {t_build / t_gz:.2f}")
    print(
        f"verify bundle {t_verify:>9.2f}s   sha256sum {t_sha:>7.2f}s   "
        f"ratio {verify_ratio:.2f} (target <= {VERIFY_TARGET}: {verify_verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
