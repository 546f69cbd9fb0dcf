"""YAML loading that remembers where every key and value came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deployer.errors import SourceProblem, TopologyError

KeyPath = tuple[str | int, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class SourceMap:
    """Maps key paths (("hosts", 0, "name")) to 1-based line and column in one file."""

    file: str
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: KeyPath) -> tuple[int, int]:
        """The closest known position: the path itself, else its nearest parent."""
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path: KeyPath, message: str, hint: str = "") -> SourceProblem:
        line, column = self.locate(path)
        return SourceProblem(self.file, line, column, format_path(path), message, hint)


def format_path(path: KeyPath) -> str:
    """("hosts", 2, "roles") -> "hosts[2].roles"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _construct(
    node: yaml.Node,
    path: KeyPath,
    smap: SourceMap,
    loader: Any,  # noqa: ANN401 - SafeLoader or its C twin
    problems: list[SourceProblem],
) -> Any:  # noqa: ANN401 - YAML yields any JSON-like value
    smap.positions[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                line, col = _mark(key_node)
                problems.append(
                    SourceProblem(
                        smap.file,
                        line,
                        col,
                        format_path((*path, key)),
                        f"duplicate key '{key}'",
                        "each key may appear once in a mapping; remove one of them",
                    )
                )
                continue
            smap.positions[(*path, key)] = _mark(key_node)
            result[key] = _construct(value_node, (*path, key), smap, loader, problems)
            smap.positions[(*path, key)] = _mark(key_node)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, index), smap, loader, problems) for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path, display_name: str | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document, returning the data and where each piece came from."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TopologyError([SourceProblem(name, 1, 1, "", "file not found")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError([SourceProblem(name, 1, 1, "", f"cannot read file: {exc}")]) from exc
    smap = SourceMap(name)
    problems: list[SourceProblem] = []
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise TopologyError(
                [SourceProblem(name, 1, 1, "", "the file is empty", "start from `deployer plan`")]
            )
        data = _construct(root, (), smap, loader, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise TopologyError([SourceProblem(name, line, col, "", f"YAML syntax error: {what}")]) from exc
    except yaml.YAMLError as exc:
        raise TopologyError([SourceProblem(name, 1, 1, "", f"YAML error: {exc}")]) from exc
    finally:
        loader.dispose()
    if problems:
        raise TopologyError(problems)
    return data, smap
