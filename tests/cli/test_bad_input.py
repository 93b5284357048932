"""Bad input: one line saying what failed and what to check, a non-zero exit, nothing lost."""

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from moto import settings as moto_settings
from moto.core.responses import ActionAuthenticatorMixin

from dlt_pipelines.sample_data import generate
from tests.conftest import S3, Twap
from twap.errors import EXIT_OBJECTS_FAILED


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=1, seed=5, twaps_per_day=300)
    return out


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " error: " in line]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]
    return errors[0]


def test_missing_source_directory(twap: Twap, tmp_path: Path) -> None:
    result = twap("load", "--source", str(tmp_path / "nowhere"), check=False)
    assert_one_line_error(result, "source not found", "nowhere", "TWAP_SOURCE_URL")


def test_debug_shows_the_traceback(twap: Twap, tmp_path: Path) -> None:
    result = twap("--debug", "load", "--source", str(tmp_path / "nowhere"), check=False)
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_no_source_configured(twap: Twap) -> None:
    assert_one_line_error(twap("load", check=False), "no source", "TWAP_SOURCE_URL")


def test_missing_bucket(twap: Twap, s3: S3) -> None:
    result = twap(
        "load",
        "--source",
        "s3://no-such-bucket/x",
        "--s3-endpoint-url",
        s3.endpoint_url,
        check=False,
    )
    assert_one_line_error(result, "source not found", "s3://no-such-bucket/x")


@contextmanager
def s3_requires_auth() -> Iterator[None]:
    """Make the (in-process) S3 server check credentials: our test keys are unknown to it."""
    previous = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    try:
        yield
    finally:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = previous


def test_bucket_without_permission(twap: Twap, s3: S3) -> None:
    s3.create_bucket("locked")
    twap.env["AWS_SECRET_ACCESS_KEY"] = "do-not-print-me"
    with s3_requires_auth():
        result = twap(
            "load", "--source", "s3://locked/x", "--s3-endpoint-url", s3.endpoint_url, check=False
        )
    assert_one_line_error(result, "access denied to source s3://locked/x", "credentials")
    assert "do-not-print-me" not in result.stderr


def test_unreachable_database(twap: Twap, tmp_path: Path) -> None:
    twap.env["TWAP_DATABASE_URL"] = "postgresql://someone:s3cr3t@127.0.0.1:1/nothing"
    result = twap("load", "--source", str(tmp_path), check=False)
    assert_one_line_error(result, "cannot connect to PostgreSQL at someone@127.0.0.1:1/nothing")
    assert "s3cr3t" not in result.stderr


def test_bad_objects_fail_alone_and_everything_else_is_published(
    twap: Twap, sample: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(sample, source)
    (source / "2026/07/01/03.parquet").write_bytes(b"this is not parquet")
    (source / "2026/07/01/04.parquet").write_bytes(
        (sample / "2026/07/01/04.parquet").read_bytes()[:500]
    )
    # Documentation beside the data is no failure: skipped and counted.
    (source / "notes.txt").write_text("twap_id,note\n1,a sample for the tests\n")
    (source / "README.md").write_text("# Hourly TWAP events\n")

    result = twap("run", "--source", str(source), check=False)

    assert result.returncode == EXIT_OBJECTS_FAILED, result.stderr
    assert "Traceback" not in result.stderr
    bad_key = (source / "2026/07/01/03.parquet").as_uri()
    assert f"failed object {bad_key}: unknown format" in result.stderr
    assert result.stderr.count(bad_key) == 1, result.stderr  # named once, at the run's end
    assert "24 objects listed (2 skipped)" in result.stderr
    assert "22 loaded" in result.stderr and "2 failed" in result.stderr
    ledger = dict(twap.query("select object_key, status from raw.twap_ingest_objects"))
    assert sum(status == "loaded" for status in ledger.values()) == 22
    failed = {key for key, status in ledger.items() if status == "failed"}
    assert failed == {(source / f"2026/07/01/0{hour}.parquet").as_uri() for hour in (3, 4)}
    with sqlite3.connect(twap.home / "twap.db") as published:
        assert published.execute("select count(*) from fct_twaps").fetchone()[0] > 0
        failed = published.execute("select count(*) from ingest_objects where status = 'failed'")
        assert failed.fetchone()[0] == 2


def test_missing_s3_credentials(twap: Twap, s3: S3, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        twap.env.pop(name, None)
    twap.env["HOME"] = str(tmp_path)  # no ~/.aws either
    result = twap(
        "load", "--source", "s3://any/x", "--s3-endpoint-url", s3.endpoint_url, check=False
    )
    assert_one_line_error(result, "missing configuration for s3://any/x", "AWS_ACCESS_KEY_ID")


def test_unreachable_object_store(twap: Twap) -> None:
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    result = twap("load", "--source", "s3://any/x", "--s3-endpoint-url", closed, check=False)
    assert_one_line_error(result, "cannot reach the object store of s3://any/x", "endpoint URL")
