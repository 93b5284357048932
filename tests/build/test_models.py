"""The dbt models: an incremental build equals a full refresh, and bad rows stop the build."""

import shutil
from datetime import timedelta
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dlt_pipelines.sample_data import generate
from tests.conftest import Twap
from twap.errors import EXIT_OBJECTS_FAILED

# Every mart with its primary key: the snapshot order.
MARTS = {
    "fct_twaps": "twap_id",
    "fct_twap_status_events": "twap_id, event_number",
    "dim_wallets": "wallet",
    "fct_coin_daily_flows": "coin, flow_date",
    "fct_active_twaps": "twap_id",
}
# With the slice fills too (a sample with fills: test_fills_build_incrementally_...).
FILL_MARTS = {**MARTS, "fct_twap_fills": "twap_id, tid"}
MOVED_WALLET = "0x" + "f" * 40


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=2, seed=21, twaps_per_day=400, duplicate_rate=0.02)
    return out


def snapshot(twap: Twap, marts: dict[str, str] = MARTS) -> dict[str, list[tuple]]:
    return {
        name: twap.query(f"select * from marts.{name} order by {key}")
        for name, key in marts.items()
    }


def twaps_with_both_events_in(table: pa.Table, count: int) -> list[int]:
    """TWAPs with both their events (or more) in `table`: candidates to rewrite, smallest first."""
    ids = pc.value_counts(table.column("twap_id"))
    return sorted(item["values"].as_py() for item in ids if item["counts"].as_py() >= 2)[:count]


def rewrite(path: Path) -> dict[str, int]:
    """Rewrite one object as a vendor correction would: a TWAP vanishes, a terminal event is
    dropped, a TWAP's start moves two days earlier, and another moves to a new wallet."""
    table = pq.read_table(path)
    vanished, reopened, moved_day, moved_wallet = twaps_with_both_events_in(table, 4)
    ids = table.column("twap_id")
    keep = pc.invert(
        pc.or_(
            pc.equal(ids, vanished),
            pc.and_(pc.equal(ids, reopened), pc.not_equal(table.column("status"), "activated")),
        )
    )
    table = table.filter(keep)
    ids = table.column("twap_id")
    shift = pc.equal(ids, moved_day)
    for name in ("event_time", "started_at"):
        column = table.column(name)
        earlier = pc.subtract(column, pa.scalar(timedelta(days=2), pa.duration(column.type.unit)))
        table = table.set_column(
            table.schema.get_field_index(name), name, pc.if_else(shift, earlier, column)
        )
    wallets = pc.if_else(pc.equal(ids, moved_wallet), MOVED_WALLET, table.column("wallet"))
    table = table.set_column(table.schema.get_field_index("wallet"), "wallet", wallets)
    pq.write_table(table, path)
    return {
        "vanished": vanished,
        "reopened": reopened,
        "moved_day": moved_day,
        "moved_wallet": moved_wallet,
    }


def test_incremental_build_equals_a_full_refresh(twap: Twap, sample: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    objects = sorted(sample.rglob("*.parquet"))
    first, later = objects[:30], objects[30:]
    for path in first:
        target = source / path.relative_to(sample)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    twap("load", "--source", str(source))
    twap("build")
    before = snapshot(twap)

    # More hours; one early object rewritten; one object repeating another's events exactly.
    for path in later:
        target = source / path.relative_to(sample)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    changed = rewrite(source / first[10].relative_to(sample))
    shutil.copy(source / later[0].relative_to(sample), source / "repeat.parquet")
    twap("load", "--source", str(source))
    twap("build")
    incremental = snapshot(twap)

    # The incremental path ran on the changed keys only, and the marts changed.
    rebuilt = {
        twap_id for (twap_id,) in twap.query("select twap_id from intermediate.int_twaps__changed")
    }
    assert set(changed.values()) <= rebuilt
    assert len(rebuilt) < len(before["fct_twaps"])
    assert incremental != before
    twap_ids = {row[0] for row in incremental["fct_twaps"]}
    assert changed["vanished"] not in twap_ids
    assert changed["reopened"] in {row[0] for row in incremental["fct_active_twaps"]}
    assert MOVED_WALLET in {row[0] for row in incremental["dim_wallets"]}

    twap("build", "--full-refresh")
    full = snapshot(twap)
    for name in MARTS:
        assert incremental[name] == full[name], name


def test_bad_rows_are_quarantined_before_staging_and_the_rest_is_published(
    twap: Twap, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    generate(source, days=1, seed=3, twaps_per_day=50)
    good = pq.read_table(next(source.rglob("*.parquet"))).slice(0, 3)
    # Microseconds, so that the rows convert to Python datetimes.
    times = good.column("event_time").cast(pa.timestamp("us", "UTC"), safe=False)
    good = good.set_column(good.schema.get_field_index("event_time"), "event_time", times)
    bad = good.to_pylist()
    bad[0]["twap_id"] = None
    bad[1]["status"] = "paused?"  # no status word: an unknown word is kept (test_real_data.py)
    bad[2]["sz"] = "-1.5"
    pq.write_table(pa.Table.from_pylist(bad, good.schema), source / "bad.parquet")

    result = twap("run", "--source", str(source), check=False)

    # Every staging test passes: what ingestion can check never reaches it.
    assert result.returncode == EXIT_OBJECTS_FAILED, result.stderr
    assert "rejected 3 rows of" in result.stderr
    assert "publish in" in result.stderr
    assert sorted(r for (r,) in twap.query("select reason from raw.twap_quarantined_rows")) == [
        "status 'paused?' is not a status word (a letter, then up to 39 letters, digits, _ or -)",
        "sz '-1.5' is negative",
        "twap_id is missing",
    ]


def test_the_set_up_runs_when_due_and_migrates_the_build_log(twap: Twap, tmp_path: Path) -> None:
    source = tmp_path / "source"
    generate(source, days=1, seed=5, twaps_per_day=50)
    twap("load", "--source", str(source))
    twap("build")
    stamp = twap.home / "dbt" / "setup_warehouse.stamp"
    set_up_at = stamp.stat().st_mtime_ns
    # Set up already, for this database and these set-up macros: the build only builds.
    twap("build")
    assert stamp.stat().st_mtime_ns == set_up_at
    # A build log from before `keys_recorded`, its keys table gone, and a mart from before its
    # contract's not_null constraint on `wallet` and check on `side` (whose tests then run on
    # Spark only): the next build migrates them.
    nullable = """
        select column_name from information_schema.columns
        where table_schema = 'marts' and table_name = 'fct_twaps' and is_nullable = 'YES'
    """
    checks = """
        select conname, pg_get_constraintdef(oid) from pg_constraint
        where conrelid = 'marts.fct_twaps'::regclass and contype = 'c' order by conname
    """
    constrained, checked = twap.query(nullable), twap.query(checks)
    assert (
        "fct_twaps_side_is_buy_or_sell",
        "CHECK ((side = ANY (ARRAY['buy'::text, 'sell'::text])))",
    ) in checked
    twap.query(
        "alter table intermediate.dbt_build_log drop column keys_recorded;"
        " drop table intermediate.dbt_build_keys;"
        " alter table marts.fct_twaps alter column wallet drop not null;"
        " alter table marts.fct_twaps drop constraint fct_twaps_side_is_buy_or_sell; select 1"
    )
    assert ("wallet",) in twap.query(nullable)
    twap("build")
    assert stamp.stat().st_mtime_ns > set_up_at
    # The column is back (false for the builds before it), and the keys of the last build kept.
    recorded = twap.query("select keys_recorded from intermediate.dbt_build_log order by build_id")
    assert recorded == [(False,), (False,), (True,)]
    assert twap.query(nullable) == constrained
    # Added `not valid` (the rows there are not scanned again), then checked on every write.
    assert [
        (name, definition.removesuffix(" NOT VALID")) for name, definition in twap.query(checks)
    ] == checked
    with pytest.raises(psycopg2.errors.CheckViolation, match="fct_twaps_side_is_buy_or_sell"):
        twap.query(
            "update marts.fct_twaps set side = 'x' where twap_id in (select twap_id from marts.fct_twaps limit 1)"
        )


def test_wallet_totals_are_kept_by_differences_and_counted_again_after_a_failed_build(
    twap: Twap, sample: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    objects = sorted(sample.rglob("*.parquet"))

    def arrive(paths: list[Path]) -> None:
        for path in paths:
            target = source / path.relative_to(sample)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
        twap("load", "--source", str(source))

    def sold(wallet: str) -> tuple[float, float]:
        """The wallet's sold notional in dim_wallets, and counted again from fct_twaps."""
        return twap.query(
            "select (select executed_notional_sold from marts.dim_wallets where wallet = %s),"
            " (select sum(executed_notional) from marts.fct_twaps"
            "  where wallet = %s and side = 'sell')",
            (wallet, wallet),
        )[0]

    arrive(objects[:-2])
    twap("build")
    known = {wallet for (wallet,) in twap.query("select wallet from marts.dim_wallets")}
    for path in objects[-2:]:
        known &= set(pq.read_table(path).column("wallet").to_pylist())
    wallet = min(known)
    # Behind dbt's back the wallet's sums drift: a build that adds the next hour's differences
    # carries the drift on (no hourly test recounts a wallet); a full test finds it.
    twap.query(
        "update intermediate.int_wallet_coins set executed_notional_sold ="
        " executed_notional_sold + 1000 where (wallet, coin) = (select wallet, min(coin)"
        " from intermediate.int_wallet_coins where wallet = %s group by wallet) returning wallet",
        (wallet,),
    )
    arrive(objects[-2:-1])
    twap("build")
    kept, recounted = sold(wallet)
    assert kept == recounted + 1000
    full = twap("build", "--full-tests", check=False)
    assert full.returncode != 0
    assert "assert_dim_wallets_match_fct_twaps (" in full.stderr

    # The build before did not succeed: the next one counts its changed wallets again.
    arrive(objects[-1:])
    twap("build")
    kept, recounted = sold(wallet)
    assert kept == recounted
    twap("build", "--full-tests")


def test_fills_build_incrementally_and_running_twaps_use_them(twap: Twap, tmp_path: Path) -> None:
    sample = tmp_path / "sample"
    summary = generate(sample, days=1, seed=8, twaps_per_day=300, fill_hours=4)
    assert summary.fills > 0
    fill_hours = sorted((sample / "node_fills_by_block").rglob("*"), key=str)
    fill_hours = sorted(
        (path for path in fill_hours if path.is_file()),
        key=lambda path: (path.parent.name, int(path.name)),
    )
    source = tmp_path / "source"
    held_back = fill_hours[-2:]
    for path in sorted(sample.rglob("*")):
        if path.is_file() and path not in held_back:
            target = source / path.relative_to(sample)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    twap("load", "--source", str(source))
    twap("build")
    before = snapshot(twap, FILL_MARTS)

    # Only fills arrive: the TWAPs they belong to, and every running one, are rebuilt.
    for path in held_back:
        target = source / path.relative_to(sample)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    twap("load", "--source", str(source))
    twap("build")
    incremental = snapshot(twap, FILL_MARTS)
    rebuilt = {
        twap_id for (twap_id,) in twap.query("select twap_id from intermediate.int_twaps__changed")
    }
    assert 0 < len(rebuilt) < len(before["fct_twaps"])
    assert incremental["fct_twap_fills"] != before["fct_twap_fills"]

    # A running TWAP with fills counts what they executed; one without says its status does.
    running = twap.query(
        "select executed_source, fill_count, size - executed_size_so_far - remaining_size,"
        " executed_size_so_far = coalesce(fills_executed_size, executed_size)"
        " from marts.fct_twaps where status = 'activated'"
    )
    assert {(source, count > 0) for source, count, _, _ in running} >= {("fills", True)}
    assert all(gap == 0 and same for _, _, gap, same in running)

    twap("build", "--full-refresh")
    full = snapshot(twap, FILL_MARTS)
    for name in FILL_MARTS:
        assert incremental[name] == full[name], name
