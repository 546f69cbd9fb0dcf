"""Text and JSON views of a bundle's manifest (inspect) and of two manifests side by side (diff)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from deployer.bundle.archive import locate_parts
from deployer.bundle.build import read_manifest_bytes
from deployer.bundle.manifest import FileEntry, Manifest, manifest_digest
from deployer.bundle.progress import human_size


def load_for_report(path: Path) -> tuple[Manifest, bytes, list[Path]]:
    data = read_manifest_bytes(path)
    parts = [] if path.suffix == ".json" else locate_parts(path)
    return Manifest.from_bytes(data, where=str(path)), data, parts


def inspect_text(path: Path) -> str:
    manifest, data, parts = load_for_report(path)
    size = sum(p.stat().st_size for p in parts)
    kinds = Counter(f.kind.value for f in manifest.files)
    carried = [f for f in manifest.files if f.included]
    lines = [
        f"bundle       {path}" + (f" ({len(parts)} parts, {human_size(size)})" if parts else ""),
        f"environment  {manifest.environment} ({manifest.platform}, {manifest.target_release})",
        f"mattermost   {manifest.mattermost_version}",
        f"deployer     {manifest.deployer_version}",
        f"signed by    key {manifest.key_id} (not checked here: run 'deployer bundle verify')",
        f"manifest     sha256 {manifest_digest(data)}",
        (
            f"files        {len(manifest.files)} "
            f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), "
            f"{human_size(manifest.total_size)} uncompressed"
        ),
    ]
    if manifest.base is not None:
        lines.append(
            f"delta        carries {len(carried)} files ({human_size(sum(f.size for f in carried))}); "
            f"the rest from base {manifest.base.manifest_sha256[:16]}..."
        )
    lines.append("")
    lines.append(f"{'KIND':<16}{'NAME':<36}{'VERSION':<28}{'SIZE':>10}")
    for f in sorted(manifest.files, key=lambda f: (f.kind.value, f.name, f.path)):
        mark = "" if f.included else "  (in base)"
        lines.append(
            f"{f.kind.value:<16}{_cut(f.name, 35):<36}{_cut(f.version, 27):<28}{human_size(f.size):>10}{mark}"
        )
    return "\n".join(lines)


def inspect_json(path: Path) -> str:
    manifest, data, parts = load_for_report(path)
    document = {
        "bundle": str(path),
        "parts": [str(p) for p in parts],
        "size": sum(p.stat().st_size for p in parts),
        "manifest_sha256": manifest_digest(data),
        "verified": False,
        "manifest": manifest.model_dump(mode="json"),
    }
    return json.dumps(document, indent=2, sort_keys=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _key(entry: FileEntry) -> tuple[str, str]:
    return entry.kind.value, entry.name


def diff_manifests(old: Manifest, new: Manifest) -> dict[str, list[dict[str, str]]]:
    before = {_key(f): f for f in old.files}
    after = {_key(f): f for f in new.files}
    added = [after[k] for k in sorted(after.keys() - before.keys())]
    removed = [before[k] for k in sorted(before.keys() - after.keys())]
    changed = [
        (before[k], after[k])
        for k in sorted(after.keys() & before.keys())
        if before[k].sha256 != after[k].sha256
    ]
    return {
        "added": [{"kind": f.kind.value, "name": f.name, "version": f.version} for f in added],
        "removed": [{"kind": f.kind.value, "name": f.name, "version": f.version} for f in removed],
        "changed": [
            {"kind": a.kind.value, "name": a.name, "old": a.version, "new": b.version} for a, b in changed
        ],
    }


def diff_text(old_path: Path, new_path: Path) -> str:
    old, _, _ = load_for_report(old_path)
    new, _, _ = load_for_report(new_path)
    result = diff_manifests(old, new)
    lines = [
        f"--- {old_path} ({old.environment}, {len(old.files)} files)",
        f"+++ {new_path} ({new.environment}, {len(new.files)} files)",
    ]
    lines += [f"+ {d['kind']:<16}{d['name']} {d['version']}" for d in result["added"]]
    lines += [f"- {d['kind']:<16}{d['name']} {d['version']}" for d in result["removed"]]
    lines += [f"~ {d['kind']:<16}{d['name']} {d['old']} -> {d['new']}" for d in result["changed"]]
    counts = {k: len(v) for k, v in result.items()}
    lines.append(f"{counts['added']} added, {counts['removed']} removed, {counts['changed']} changed")
    return "\n".join(lines)


def diff_json(old_path: Path, new_path: Path) -> str:
    old, _, _ = load_for_report(old_path)
    new, _, _ = load_for_report(new_path)
    return json.dumps(diff_manifests(old, new), indent=2, sort_keys=True)
