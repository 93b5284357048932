"""The `twap` command as a person meets it: one line per step, flags that mean what they say,
and mistakes named in one line before anything starts."""

import json
import logging
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.conftest import Twap, free_port
from twap.run.demo import demo_sample
from twap.settings import Settings


def twap_alone(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`twap` on the embedded defaults under `home`: no TWAP_DATABASE_URL."""
    return subprocess.run(
        [sys.executable, "-m", "twap.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_verbose_shows_dbts_output_live(site: Twap) -> None:
    verbose = site("build", "-v")
    assert "Completed successfully" in verbose.stdout
    assert "Detected columns with numeric type" not in verbose.stdout


def test_a_mistyped_flag_gets_the_commands_usage_and_a_suggestion(tmp_path: Path) -> None:
    result = twap_alone(tmp_path, "run", "--sorce", "x")

    assert result.returncode == 2
    assert result.stderr.startswith("Usage: twap run ")
    assert "twap run: error: No such option '--sorce'. Did you mean '--source'?" in result.stderr
    assert not tmp_path.joinpath("pgdata").exists()


def test_a_mistyped_command_gets_a_suggestion(tmp_path: Path) -> None:
    result = twap_alone(tmp_path, "rn")

    assert result.returncode == 2
    assert "twap: error: No such command 'rn'. Did you mean 'run'?" in result.stderr
    assert not tmp_path.joinpath("pgdata").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3:/bucket/x", "malformed source URL s3:/bucket/x: expected s3://bucket/prefix"),
        ("s3://", "malformed source URL s3://: expected s3://bucket/prefix"),
        ("gs://bucket/x", "unsupported source URL gs://bucket/x: gs:// cannot be read here"),
        ("http://host/x", "supported: s3://bucket/prefix, file:///path or a plain path"),
    ],
)
def test_a_malformed_source_url_is_named_before_anything_starts(
    tmp_path: Path, url: str, expected: str
) -> None:
    result = twap_alone(tmp_path / "home", "run", "--source", url)

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert not (tmp_path / "home").exists()


def test_status_never_creates_or_starts_a_database(tmp_path: Path) -> None:
    result = twap_alone(tmp_path / "home", "status")

    assert result.returncode == 0
    assert "nothing loaded yet" in result.stdout
    assert not (tmp_path / "home").exists()


def test_serve_on_a_busy_port_fails_before_announcing_it(site: Twap) -> None:
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = site("serve", "--port", str(port), check=False)

    assert result.returncode == 1
    assert "Datasette on" not in result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_demo_sample_is_made_again_only_for_other_days_seed_or_hour(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env(home=str(tmp_path))
    logger = logging.getLogger("twap.run.demo")
    logger.addHandler(caplog.handler)  # `twap` may not propagate, after an in-process main()
    caplog.set_level(logging.INFO, logger=logger.name)
    end = datetime(2026, 11, 30, 14, tzinfo=UTC)
    try:
        demo_sample(settings, days=1, seed=3, end=end)
        first = next(settings.sample_dir.rglob("*.parquet")).stat().st_mtime_ns
        demo_sample(settings, days=1, seed=3, end=end)
    finally:
        logger.removeHandler(caplog.handler)
    assert "reusing 1 days (seed 3)" in caplog.text
    assert next(settings.sample_dir.rglob("*.parquet")).stat().st_mtime_ns == first
    # The day up to the hour: 24 hourly objects, the last one the hour before `end`.
    objects = sorted(p.relative_to(settings.sample_dir) for p in settings.sample_dir.rglob("*"))
    objects = [str(p) for p in objects if p.suffix == ".parquet"]
    assert len(objects) == 24 and objects[0] == "2026/11/29/14.parquet"
    assert objects[-1] == "2026/11/30/13.parquet"
    events = pq.read_table(settings.sample_dir / objects[-1])["event_time"]
    times = pc.cast(events, pa.timestamp("us", "UTC"), safe=False).to_pylist()
    assert end - timedelta(hours=1) <= max(times) < end

    demo_sample(settings, days=2, seed=3, end=end)
    assert len(list(settings.sample_dir.rglob("*.parquet"))) == 48
    assert json.loads((tmp_path / "sample.json").read_text())["days"] == 2
    demo_sample(settings, days=2, seed=3, end=end + timedelta(hours=1))
    assert (settings.sample_dir / "2026/11/30/14.parquet").exists()
    assert not (settings.sample_dir / "2026/11/28/14.parquet").exists()


@pytest.mark.faketime
def test_the_demo_shows_what_runs_now_and_mirrors_its_sample_each_hour(twap: Twap) -> None:
    """The demo's data ends within the hour; two hours later the demo makes its sample again
    and the marts hold exactly the new sample's TWAPs (the old objects' rows stop counting)."""
    twap("demo", "--no-serve", "--days", "1", "--port", str(free_port()))
    newest = twap.query("select max(event_time) from marts.fct_twap_status_events")[0][0]
    assert datetime.now(UTC) - newest < timedelta(hours=1, minutes=5)
    assert twap.query("select count(*) from marts.fct_active_twaps")[0][0] > 0
    twap("demo", "--no-serve", "--days", "1", "--port", str(free_port()), clock="+2h")
    # The status objects only: the sample's node fills beside them are JSON lines.
    expected = {
        tuple(row.values())
        for path in (twap.home / "sample").rglob("*.parquet")
        for row in pq.read_table(path, columns=["twap_id", "wallet", "coin"]).to_pylist()
    }
    published = set(twap.query("select twap_id, wallet, coin from marts.fct_twaps"))
    assert published == expected
    moved = twap.query("select max(event_time) from marts.fct_twap_status_events")[0][0]
    assert timedelta(hours=1) < moved - newest < timedelta(hours=3)


@pytest.mark.parametrize("command", ["build", "publish", "status"])
def test_commands_that_do_not_load_start_without_dlt(tmp_path: Path, command: str) -> None:
    # dlt takes ~0.6 s to import: only the commands that load pay it. The database is a closed
    # port, so each command goes as far as connecting and stops there with its one-line error.
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/twap"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "twap.cli", "--home", str(tmp_path), command],
        env={**os.environ, "TWAP_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert result.returncode != 0
    assert "twap.run.steps" in imported and "psycopg2" in imported
    assert not {name for name in imported if name == "dlt" or name.startswith("dlt.")}
