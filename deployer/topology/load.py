"""Finds an environment, parses its topology file and turns mistakes into located messages."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from deployer import paths
from deployer.errors import EnvironmentNotFoundError, SourceProblem, TopologyError
from deployer.topology.model import Topology
from deployer.topology.source import KeyPath, SourceMap, load_yaml

TOPOLOGY_FILE = "topology.yml"


@dataclass(frozen=True)
class Environment:
    """A loaded environment: its folder, its topology and where each key came from."""

    name: str
    root: Path
    topology_file: Path
    topology: Topology
    source: SourceMap

    def relative(self, value: str) -> Path:
        """Resolve a path written in the topology against the environment folder."""
        path = Path(value)
        return path if path.is_absolute() else self.root / path


def resolve_environment(env: str | None, inventory: str | None) -> Path:
    """`-e NAME` searches the inventories folders; `-i PATH` takes a folder or a file."""
    if inventory:
        path = Path(inventory)
        if path.is_dir():
            path = path / TOPOLOGY_FILE
        if not path.is_file():
            raise EnvironmentNotFoundError(
                f"no topology file at {path}",
                hint=f"pass a folder holding {TOPOLOGY_FILE}, or the file itself",
            )
        return path
    if not env:
        raise EnvironmentNotFoundError(
            "no environment given", hint="pass -e NAME (a folder under inventories/) or -i PATH"
        )
    searched = paths.inventory_dirs()
    for folder in searched:
        candidate = folder / env / TOPOLOGY_FILE
        if candidate.is_file():
            return candidate
    known = sorted(
        {p.parent.name for folder in searched if folder.is_dir() for p in folder.glob(f"*/{TOPOLOGY_FILE}")}
    )
    suggestion = difflib.get_close_matches(env, known, n=1)
    hint = f"did you mean '{suggestion[0]}'? " if suggestion else ""
    hint += f"known environments: {', '.join(known) or 'none'}"
    raise EnvironmentNotFoundError(
        f"environment '{env}' not found (looked in {', '.join(str(f) for f in searched)})",
        hint=hint,
    )


def load_environment(env: str | None = None, inventory: str | None = None) -> Environment:
    topology_file = resolve_environment(env, inventory)
    try:
        shown = str(topology_file.resolve().relative_to(Path.cwd()))
    except ValueError:
        shown = str(topology_file)
    data, smap = load_yaml(topology_file, shown)
    topology = parse_topology(data, smap)
    return Environment(topology.name, topology_file.parent, topology_file, topology, smap)


def parse_topology(data: Any, smap: SourceMap) -> Topology:  # noqa: ANN401 - raw YAML
    if not isinstance(data, dict):
        raise TopologyError(
            [smap.problem((), "the topology must be a mapping of keys (name, mattermost, hosts, ...)")]
        )
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err, smap, data) for err in exc.errors()]
        raise TopologyError(_dedupe(problems)) from exc


def _dedupe(problems: list[SourceProblem]) -> list[SourceProblem]:
    seen: set[tuple[int, int, str, str]] = set()
    unique: list[SourceProblem] = []
    for p in sorted(problems, key=lambda p: (p.line, p.column, p.key_path)):
        key = (p.line, p.column, p.key_path, p.message)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    """The model class describing the mapping at `path`, for "did you mean" suggestions."""
    model: type[BaseModel] | None = Topology
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            field = next((f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:  # noqa: ANN401 - typing objects
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _strip_union_tags(loc: tuple[str | int, ...], data: Any) -> KeyPath:  # noqa: ANN401
    """Pydantic may put type tags into error locations; keep only the keys of the file."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str):
            path.append(part)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
    return tuple(path)


def _problem(err: Any, smap: SourceMap, data: Any) -> SourceProblem:  # noqa: ANN401
    loc: KeyPath = _strip_union_tags(tuple(err["loc"]), data)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc[:-1])
        names = _field_names(model) if model else []
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else ""
        allowed = ", ".join(names)
        hint = (hint + " " if hint else "") + f"allowed keys here: {allowed}"
        return smap.problem(loc, f"unknown key '{key}'", hint)
    if kind == "missing":
        return smap.problem(loc, f"required key '{loc[-1]}' is missing", "add it; see the schema")
    if kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        close = difflib.get_close_matches(
            str(value), [e.strip("' ") for e in expected.replace(" or ", ",").split(",")], n=1
        )
        hint = f"did you mean '{close[0]}'? " if close else ""
        return smap.problem(loc, f"'{value}' is not allowed here", f"{hint}expected {expected}")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return smap.problem(loc, f"'{value}' is not supported", f"expected {expected}")
    if kind in {
        "string_type",
        "int_type",
        "bool_type",
        "list_type",
        "model_type",
        "dict_type",
        "int_parsing",
        "bool_parsing",
    }:
        wanted = {
            "string_type": "a string (quote it: values like 10.5 or yes are read as numbers or booleans)",
            "int_type": "a whole number",
            "int_parsing": "a whole number",
            "bool_type": "true or false",
            "bool_parsing": "true or false",
            "list_type": "a list",
            "model_type": "a mapping of keys",
            "dict_type": "a mapping of keys",
        }[kind]
        return smap.problem(loc, f"expected {wanted}, got {type(value).__name__} {value!r}")
    bounds = _bounds_problem(kind, err.get("ctx", {}), value)
    if bounds is not None:
        return smap.problem(loc, *bounds)
    if kind == "string_pattern_mismatch":
        return smap.problem(loc, f"'{value}' is not a valid value for this key", _pattern_hint(loc))
    if kind in {"ip_v4_address", "ip_v4_network", "ip_v4_interface"}:
        what = (
            "an IPv4 address like 10.61.2.11"
            if kind == "ip_v4_address"
            else "an IPv4 network like 10.61.2.0/24 (host bits zero)"
        )
        return smap.problem(loc, f"'{value}' is not {what}")
    message = str(err.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return smap.problem(loc, message)


def _bounds_problem(kind: str, ctx: dict[str, Any], value: Any) -> tuple[str, str] | None:  # noqa: ANN401
    """Message and hint for values outside their allowed range or length."""
    if kind in {"less_than_equal", "less_than"}:
        return f"{value!r} is too large", f"the most allowed here is {ctx.get('le', ctx.get('lt'))}"
    if kind in {"greater_than_equal", "greater_than"}:
        return f"{value!r} is too small", f"the least allowed here is {ctx.get('ge', ctx.get('gt'))}"
    if kind == "too_short":
        return "the list is empty", f"give at least {ctx.get('min_length', 1)} item(s)"
    if kind == "string_too_short":
        return f"{value!r} is too short", f"write at least {ctx.get('min_length')} characters"
    return None


_PATTERN_HINTS = {
    "name": "use lower-case letters, digits and '-', at most 63 characters",
    "site_url": "write the full URL users open, e.g. https://chat.example.internal",
    "webhook_url": "write the full webhook URL, e.g. https://chat.example.internal/hooks/xxx",
    "version": "write the Kubernetes minor version, e.g. 1.30",
    "bucket": "lower-case letters, digits, '.' and '-', 3 to 63 characters",
    "namespace": "use lower-case letters, digits and '-'",
}


def _pattern_hint(loc: KeyPath) -> str:
    return _PATTERN_HINTS.get(str(loc[-1]) if loc else "", "see the schema for the allowed form")
