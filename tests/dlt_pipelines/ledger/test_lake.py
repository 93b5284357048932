"""The lake target's ledger (dlt_pipelines/ledger/lake.py): the same rules as PostgreSQL's, kept in
append-only files, with dlt's completion marker in place of a transaction."""

from pathlib import Path

import pyarrow.parquet as pq

from dlt_pipelines.ledger.lake import LakeLedger
from dlt_pipelines.ledger.rules import LOADED, MIRROR, KnownObject
from dlt_pipelines.pipeline import load, make_lake_pipeline
from dlt_pipelines.sample_data import generate


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
