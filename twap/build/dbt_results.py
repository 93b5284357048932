"""The dbt test results of the last build (`run_results.json`), as a table to publish."""

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from twap.errors import TwapError

TEST_RESOURCES = ("test", "unit_test")
SCHEMA = pa.schema(
    [
        ("test_id", pa.string()),
        ("test_name", pa.string()),
        ("test_type", pa.string()),
        ("model", pa.string()),
        ("status", pa.string()),
        ("failures", pa.int64()),
        ("message", pa.string()),
        ("execution_seconds", pa.float64()),
        ("run_at", pa.string()),
    ]
)


def read_test_results(target_dir: Path, manifest: dict[str, Any], invocation_id: str) -> pa.Table:
    """One row per dbt data or unit test of the build `invocation_id` (the one that made the
    marts); its results must be the ones in `target_dir`."""
    path = target_dir / "run_results.json"
    try:
        run = json.loads(path.read_text())
    except FileNotFoundError:
        raise TwapError(f"no dbt results at {path}: run `twap build` before publishing") from None
    except (OSError, ValueError) as exc:
        raise TwapError(f"cannot read the dbt results {path}: {exc} (run `twap build`)") from exc
    if run["metadata"].get("invocation_id") != invocation_id:
        raise TwapError(
            f"the dbt results in {path} are not those of the build that made the marts "
            "(another dbt command ran since): run `twap build` before publishing"
        )
    names = _node_names(manifest)
    rows = []
    for result in run["results"]:
        kind = result["unique_id"].split(".", 1)[0]
        if kind not in TEST_RESOURCES:
            continue
        node = manifest["nodes"].get(result["unique_id"]) or manifest.get("unit_tests", {}).get(
            result["unique_id"], {}
        )
        rows.append(
            {
                "test_id": result["unique_id"],
                "test_name": node.get("name") or result["unique_id"].split(".")[-1],
                "test_type": "unit" if kind == "unit_test" else "data",
                "model": _tested_model(node, names),
                "status": result["status"],
                "failures": result.get("failures"),
                "message": result.get("message"),
                "execution_seconds": result.get("execution_time"),
                "run_at": run["metadata"]["generated_at"],
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _node_names(manifest: dict[str, Any]) -> dict[str, str]:
    nodes = {uid: node["name"] for uid, node in manifest["nodes"].items()}
    return nodes | {
        uid: f"{s['source_name']}.{s['name']}" for uid, s in manifest["sources"].items()
    }


def _tested_model(node: dict[str, Any], names: dict[str, str]) -> str | None:
    """The model (or source) a test is about: its attached node, else what it reads first."""
    if node.get("model"):  # unit tests name their model
        return node["model"]
    read = node.get("depends_on", {}).get("nodes", [])
    tested = node.get("attached_node") or next(iter(read), None)
    return names.get(tested) if tested else None
