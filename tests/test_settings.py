"""Settings of the `twap` command (twap/settings.py): environment variables, flags over them,
and the mistakes named before anything starts. No pipeline runs."""

from pathlib import Path

import pytest

from dlt_pipelines.settings import LEDGER_MAX_FILES
from twap.errors import EXIT_ERROR, TwapError
from twap.settings import Settings, check_log_format, check_source_url, source_arguments

TWAP_VARIABLES = (
    "TWAP_HOME",
    "TWAP_DATABASE_URL",
    "TWAP_SOURCE_URL",
    "TWAP_PUBLISH_PATH",
    "TWAP_WAREHOUSE",
    "TWAP_LAKE_URL",
    "TWAP_SPARK_TARGET",
    "TWAP_LOG_FORMAT",
    "TWAP_METRICS_DIR",
    "TWAP_PUSHGATEWAY_URL",
    "TWAP_LEDGER_MAX_FILES",
)


@pytest.fixture(autouse=True)
def no_twap_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TWAP_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_source_flags_become_the_dlt_sources_arguments() -> None:
    flags = {
        "s3_endpoint_url": "http://127.0.0.1:9000",
        "s3_region": "eu-west-1",
        "requester_pays": True,
        "anonymous": None,
        "wait": 3.0,
    }
    assert source_arguments(flags) == {
        "credentials": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
        "requester_pays": True,
    }
    assert source_arguments({"anonymous": None, "requester_pays": None}) == {}


def test_defaults_live_under_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env()

    assert settings.home == tmp_path / ".twap"
    assert settings.publish_path == tmp_path / ".twap" / "twap.db"
    assert settings.metrics_dir == tmp_path / ".twap" / "metrics"
    assert settings.lake_url == str(tmp_path / ".twap" / "lake")
    assert (settings.warehouse, settings.spark_target, settings.log_format) == (
        "postgres",
        "spark",
        "text",
    )
    assert settings.database_url is settings.source_url is settings.pushgateway_url is None


def test_flags_win_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWAP_HOME", str(tmp_path / "from-env"))
    monkeypatch.setenv("TWAP_SOURCE_URL", "s3://env-bucket/events")
    monkeypatch.setenv("TWAP_WAREHOUSE", "spark")
    monkeypatch.setenv("TWAP_LOG_FORMAT", "json")

    from_env = Settings.from_env()
    assert from_env.home == tmp_path / "from-env"
    assert (from_env.source_url, from_env.warehouse, from_env.log_format) == (
        "s3://env-bucket/events",
        "spark",
        "json",
    )
    flags = Settings.from_env(
        home=str(tmp_path / "flag"),
        source_url="s3://flag-bucket/events",
        warehouse="postgres",
        log_format="text",
    )
    assert flags.home == tmp_path / "flag"
    assert (flags.source_url, flags.warehouse, flags.log_format) == (
        "s3://flag-bucket/events",
        "postgres",
        "text",
    )


def test_the_publish_path_is_kept_as_the_link_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "v1.db").touch()
    (tmp_path / "real" / "site.db").symlink_to("v1.db")
    monkeypatch.setenv("TWAP_PUBLISH_PATH", str(tmp_path / "alias" / "site.db"))

    # The folder resolved, the file itself not: a publish switches the link, not its target.
    assert Settings.from_env().publish_path == tmp_path / "real" / "site.db"


def test_an_unknown_log_format_names_both_places_to_fix_it() -> None:
    assert check_log_format("json") == "json"
    with pytest.raises(
        TwapError, match=r"'xml' \(TWAP_LOG_FORMAT / --log-format\): use text or json"
    ):
        Settings.from_env(log_format="xml")


def test_the_lake_ledgers_file_limit_is_a_number_of_files_above_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings.from_env().ledger_max_files == LEDGER_MAX_FILES
    monkeypatch.setenv("TWAP_LEDGER_MAX_FILES", "200")
    assert Settings.from_env().ledger_max_files == 200
    for given in ("0", "-3", "many", "2.5"):
        monkeypatch.setenv("TWAP_LEDGER_MAX_FILES", given)
        with pytest.raises(TwapError) as raised:
            Settings.from_env()
        assert str(raised.value) == (
            f"TWAP_LEDGER_MAX_FILES={given!r} is not a number of files above 0 (default 48)"
        )


@pytest.mark.parametrize(
    "url", [None, "", "/data/events", "relative/dir", "file:///data", "s3://b/p"]
)
def test_source_urls_that_mean_something_pass(url: str | None) -> None:
    check_source_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3:/bucket/x", "expected s3://bucket/prefix (two slashes, then the bucket name)"),
        ("s3://", "expected s3://bucket/prefix"),
    ],
)
def test_a_malformed_source_url_is_one_line_saying_why(url: str, expected: str) -> None:
    with pytest.raises(TwapError) as raised:
        check_source_url(url)
    assert str(raised.value).startswith(f"malformed source URL {url}: ")
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.exit_code == EXIT_ERROR


@pytest.mark.parametrize(
    "url", ["gs://bucket/x", "http://example.com/x", "https://h/x", "az://c/x", "s4://bucket/x"]
)
def test_an_unsupported_scheme_is_one_line_listing_the_supported_ones(url: str) -> None:
    with pytest.raises(TwapError) as raised:
        check_source_url(url)
    scheme = url.split(":", 1)[0]
    expected = "supported: s3://bucket/prefix, file:///path or a plain path"
    assert str(raised.value).startswith(f"unsupported source URL {url}: {scheme}:// cannot be read")
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.exit_code == EXIT_ERROR
