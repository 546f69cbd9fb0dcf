"""Publishes the topology's JSON Schema (for editors) from the same models the loader uses."""

from __future__ import annotations

import json
import sys
from typing import Any

from deployer import paths
from deployer.topology.model import Topology


def schema() -> dict[str, Any]:
    doc = Topology.model_json_schema(by_alias=True, mode="validation")
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["$id"] = "topology.schema.json"
    doc["title"] = "Mattermost deployer topology"
    return doc


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    """`python -m deployer.topology.schema` rewrites the published schema file."""
    target = paths.schema_file()
    target.write_text(schema_text(), encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
