"""The lake target's ledger (dlt_pipelines/ledger/lake.py): the same rules as PostgreSQL's, kept in
append-only files, with dlt's completion marker in place of a transaction."""

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dlt_pipelines.ledger.lake import OBJECT_SCHEMA, LakeLedger
from dlt_pipelines.ledger.rules import ENTRY_COLUMNS, LOADED, MIRROR, KnownObject
from dlt_pipelines.pipeline import load, make_lake_pipeline
from dlt_pipelines.sample_data import generate
from dlt_pipelines.settings import FILL_SCHEMA, LINEAGE_SCHEMA

MACROS = Path(__file__).parents[3] / "dbt_project" / "macros"


def ledger(lake: Path, dlt_dir: Path) -> LakeLedger:
    """The ledger as a new run reads it."""
    book = LakeLedger(make_lake_pipeline(str(lake), str(dlt_dir)))
    book.prepare()
    return book


def test_the_lake_ledger_names_each_objects_current_load(tmp_path: Path) -> None:
    source, lake, dlt_dir = tmp_path / "source", tmp_path / "lake", tmp_path / "dlt"
    generate(source, days=1, seed=5, twaps_per_day=120)
    objects = sorted(source.rglob("*.parquet"))
    pipeline = make_lake_pipeline(str(lake), str(dlt_dir))

    first = load(pipeline, bucket_url=str(source))
    assert first.stats.loaded == len(objects)
    assert load(pipeline, bucket_url=str(source)).stats.selected == 0
    book = ledger(lake, dlt_dir)
    assert all(known.current for known in book.known().values())
    assert book.seq == len(objects)

    # A rewritten object: its new load becomes current in a commit naming the old one.
    rewritten = objects[3]
    key = next(k for k in book.known() if k.endswith(str(rewritten.relative_to(source))))
    table = pq.read_table(rewritten)
    assert table.num_rows > 1
    pq.write_table(table.slice(0, table.num_rows - 1), rewritten)
    old_load = book.entries[key]["load_id"]
    changed = load(pipeline, bucket_url=str(source))
    assert (changed.stats.changed, changed.stats.loaded) == (1, 1)
    book = ledger(lake, dlt_dir)
    entry = book.entries[key]
    assert entry["load_id"] == changed.info.loads_ids[-1] != old_load
    assert entry["commit_seq"] == book.seq == len(objects) + 1

    # The ledger's load never completed (a crash before dlt wrote its marker): its rows do not
    # count, the object is as it was, and the next run reads it again.
    markers = sorted((lake / "raw" / "_dlt_loads").iterdir())
    markers[-1].unlink()
    book = ledger(lake, dlt_dir)
    assert book.entries[key]["load_id"] == old_load
    assert book.seq == len(objects)
    again = load(pipeline, bucket_url=str(source))
    assert (again.stats.changed, again.stats.loaded) == (1, 1)
    assert ledger(lake, dlt_dir).entries[key]["commit_seq"] == len(objects) + 1

    # A vanished object keeps its rows by default; mirrored, a commit takes them away.
    objects[0].unlink()
    kept = load(pipeline, bucket_url=str(source))
    assert len(kept.stats.vanished) == 1
    vanished_key = kept.stats.vanished[0]
    assert ledger(lake, dlt_dir).known()[vanished_key].current
    load(pipeline, bucket_url=str(source), on_vanished=MIRROR)
    book = ledger(lake, dlt_dir)
    version = book.entries[vanished_key]["object_version"]
    assert book.known()[vanished_key] == KnownObject(version, LOADED, False, True)
    assert book.entries[vanished_key]["row_count"] == 0


def test_fills_go_to_the_lake_with_their_own_ledger_entries(tmp_path: Path) -> None:
    source, lake, dlt_dir = tmp_path / "source", tmp_path / "lake", tmp_path / "dlt"
    summary = generate(source, days=1, seed=5, twaps_per_day=120, fill_hours=2)
    pipeline = make_lake_pipeline(str(lake), str(dlt_dir))

    result = load(pipeline, bucket_url=str(source))

    assert result.stats.loaded == summary.objects + summary.fill_objects
    fills = pq.read_table(lake / "raw" / "twap_fills")
    assert fills.num_rows == summary.fills
    assert fills.schema.names[: len(FILL_SCHEMA)] == FILL_SCHEMA.names
    entries = ledger(lake, dlt_dir).entries
    fill_entries = [e for key, e in entries.items() if "node_fills_by_block" in key]
    assert len(fill_entries) == summary.fill_objects
    assert sum(e["row_count"] for e in fill_entries) == summary.fills
    assert all(e["load_id"] == result.info.loads_ids[-1] for e in fill_entries)


def test_spark_registers_the_fills_with_the_columns_of_the_fill_schema() -> None:
    """Spark cannot infer the schema of a folder no fill has reached yet: lake_sources.sql
    names the columns, which must stay those the pipeline writes."""
    macro = (MACROS / "lake_sources.sql").read_text()
    listed = re.search(r"set fill_columns = \[(.*?)\]", macro, re.DOTALL)
    assert listed is not None
    columns = [each.split() for each in re.findall(r"'([^']+)'", listed.group(1))]
    spark_types = {pa.int64(): "bigint", pa.string(): "string", pa.bool_(): "boolean"}
    expected = [
        [field.name, spark_types.get(field.type, "timestamp")]
        for field in (*FILL_SCHEMA, *LINEAGE_SCHEMA)
    ]
    assert columns == [*expected, ["_dlt_load_id", "string"]]


def test_the_lake_ledger_keeps_every_column_of_an_entry() -> None:
    """Its files are written with OBJECT_SCHEMA, which drops any other key of an entry: an entry
    column missing there would be lost on the lake alone (as `early_rows` once was)."""
    assert set(ENTRY_COLUMNS) <= set(OBJECT_SCHEMA.names)
