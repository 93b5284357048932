"""Datasette metadata: table and column descriptions from dbt's manifest (so they never drift
from the dbt YAML), merged with the hand-written parts in `twap/site/` (title, licence, facets,
sort orders, labels, canned queries)."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from twap.errors import TwapError
from twap.site import METADATA_FILE as HAND_WRITTEN
from twap.site import QUERIES_FILE as CANNED_QUERIES


@dataclass(frozen=True)
class DbtRelation:
    """Where a published table comes from in dbt: a model, or a source table."""

    kind: str  # "model" or "source"
    name: str
    source_name: str | None = None

    def find(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        if self.kind == "model":
            candidates = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
        else:
            candidates = [
                s for s in manifest["sources"].values() if s["source_name"] == self.source_name
            ]
        return next((node for node in candidates if node["name"] == self.name), None)

    @property
    def label(self) -> str:
        return f"dbt {self.kind} {self.source_name + '.' if self.source_name else ''}{self.name}"


class Sortable(Protocol):
    """How a published table may be sorted (twap.publish.tables.PublishedTable)."""

    @property
    def sort_columns(self) -> list[str]: ...

    @property
    def default_sort(self) -> dict[str, str]: ...


def read_manifest(target_dir: Path) -> dict[str, Any]:
    path = target_dir / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TwapError(f"no dbt manifest at {path}: run `twap build` before publishing") from None
    except (OSError, ValueError) as exc:
        raise TwapError(f"cannot read the dbt manifest {path}: {exc} (run `twap build`)") from exc


def build_metadata(
    manifest: dict[str, Any],
    database: str,
    tables: dict[str, list[str]],
    relations: dict[str, DbtRelation],
    orders: dict[str, "Sortable"],
) -> dict[str, Any]:
    """Metadata for the published `tables` (name -> columns); fails if any lacks a description.

    `relations` names the dbt model or source of each table built by dbt; the descriptions of
    the others come from `twap/site/metadata.yml`. `orders` gives each table's default order and
    the only columns it may be sorted by (those its indexes serve).
    """
    metadata = yaml.safe_load(HAND_WRITTEN.read_text())
    database_metadata = metadata.setdefault("databases", {}).setdefault(database, {})
    hand_tables = database_metadata.setdefault("tables", {})
    for table, relation in relations.items():
        node = relation.find(manifest)
        if node is None:
            raise TwapError(f"{relation.label} is not in the dbt manifest: run `twap build`")
        generated = {
            "description": node["description"].strip(),
            "source": relation.label,
            "columns": {name: c["description"].strip() for name, c in node["columns"].items()},
        }
        # dbt's descriptions win over anything hand-written: one place to describe a column.
        table_metadata = hand_tables.setdefault(table, {})
        table_metadata["columns"] = {
            **table_metadata.get("columns", {}),
            **generated.pop("columns"),
        }
        table_metadata.update(generated)
    for table, order in orders.items():
        hand_tables.setdefault(table, {}).update(
            sortable_columns=order.sort_columns, **order.default_sort
        )
    for table_metadata in hand_tables.values():
        # A view over a table (twap/site/views.sql) shares that table's column descriptions.
        base = table_metadata.pop("columns_from", None)
        if base:
            table_metadata["columns"] = {
                **hand_tables[base].get("columns", {}),
                **table_metadata.get("columns", {}),
            }
    _check_descriptions(hand_tables, tables)
    queries = yaml.safe_load(CANNED_QUERIES.read_text())
    for query in queries.values():
        query["params"] = list(query.get("parameters", {}))
    database_metadata["queries"] = queries
    return metadata


def _check_descriptions(described: dict[str, Any], tables: dict[str, list[str]]) -> None:
    missing = []
    for table, columns in tables.items():
        table_metadata = described.get(table, {})
        if not table_metadata.get("description"):
            missing.append(table)
        column_descriptions = table_metadata.get("columns", {})
        missing += [f"{table}.{c}" for c in columns if not column_descriptions.get(c)]
    if missing:
        raise TwapError(
            f"publish refused: no description for {', '.join(missing)} (describe them in the dbt "
            "YAML under models/, or in twap/site/metadata.yml for tables dbt does not build)"
        )
