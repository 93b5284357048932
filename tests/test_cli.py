"""The `twap` command as a person meets it: one line per step, flags that mean what they say,
and mistakes named in one line before anything starts."""

import json
import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Twap, free_port
from twap.demo import demo_sample
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
    assert result.stderr.startswith("usage: twap run ")
    assert "unrecognized arguments: --sorce x (did you mean --source?)" in result.stderr
    assert not tmp_path.joinpath("pgdata").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3:/bucket/x", "malformed source URL s3:/bucket/x: expected s3://bucket/prefix"),
        ("s3://", "malformed source URL s3://: expected s3://bucket/prefix"),
        ("s4://bucket/x", "malformed source URL s4://bucket/x: unknown scheme s4://"),
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


def test_demo_sample_is_made_again_only_for_other_days_or_seed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env(home=str(tmp_path))
    logger = logging.getLogger("twap.demo")
    logger.addHandler(caplog.handler)  # `twap` may not propagate, after an in-process main()
    caplog.set_level(logging.INFO, logger=logger.name)
    try:
        demo_sample(settings, days=1, seed=3)
        first = next(settings.sample_dir.rglob("*.parquet")).stat().st_mtime_ns
        demo_sample(settings, days=1, seed=3)
    finally:
        logger.removeHandler(caplog.handler)
    assert "reusing 1 days (seed 3)" in caplog.text
    assert next(settings.sample_dir.rglob("*.parquet")).stat().st_mtime_ns == first
    assert len(list(settings.sample_dir.rglob("*.parquet"))) == 24

    demo_sample(settings, days=2, seed=3)
    assert len(list(settings.sample_dir.rglob("*.parquet"))) == 48
    assert json.loads((tmp_path / "sample.json").read_text())["days"] == 2
