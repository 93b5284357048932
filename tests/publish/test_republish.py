"""Zero downtime: `twap publish` swaps a new version under a running `twap serve` while requests
keep coming; none fails, each sees the old data or the new, and the new appears unrestarted."""

import shutil
import threading
import time
import urllib.parse
from pathlib import Path

from dlt_pipelines.sample_data import generate
from tests.conftest import Twap, get_json, serving

# Three tables in one answer: a request reading two versions would give a mixed triple.
SNAPSHOT_SQL = (
    "select (select count(*) from fct_twaps) as twaps, "
    "(select count(*) from fct_twap_status_events) as events, "
    "(select count(*) from ingest_objects) as objects"
)
CLIENTS = 3
# Rows counted and faceted by one request (its default facets): each facet adds up to the count.
FACETED = "/twap/fct_twaps.json?_size=0"
WHOLE_FACETS = ("status", "side", "market_type")


def test_republish_under_load_is_atomic_and_needs_no_restart(twap: Twap, tmp_path: Path) -> None:
    days, source = tmp_path / "days", tmp_path / "source"
    generate(days, days=2, seed=4, twaps_per_day=300)
    first_day, second_day = sorted(days.glob("*/*/*"))  # YYYY/MM/DD folders of hourly objects
    shutil.copytree(first_day, source / first_day.relative_to(days))
    twap("run", "--source", str(source))

    with serving(twap) as server:
        url = f"{server.url}/twap.json?_shape=array&sql={urllib.parse.quote(SNAPSHOT_SQL)}"
        old = tuple(get_json(url)[0].values())
        old_version = get_json(f"{server.url}/-/healthz")["version"]
        shutil.copytree(second_day, source / second_day.relative_to(days))
        twap("load", "--source", str(source))
        twap("build")
        new = twap.query(
            "select (select count(*) from marts.fct_twaps), "
            "(select count(*) from marts.fct_twap_status_events), "
            "(select count(*) from raw.twap_ingest_objects)"
        )[0]
        assert new != old

        answers: list[tuple] = []
        failures: list[str] = []
        mixed: list[dict] = []
        stop = threading.Event()

        def ask() -> None:
            while not stop.is_set():
                try:
                    answers.append(tuple(get_json(url)[0].values()))
                    page = get_json(f"{server.url}{FACETED}")
                    for name in WHOLE_FACETS:
                        counts = page["facet_results"][name]["results"]
                        if sum(r["count"] for r in counts) != page["filtered_table_rows_count"]:
                            mixed.append(page)
                except Exception as exc:  # any failed request is what this test looks for
                    failures.append(repr(exc))

        clients = [threading.Thread(target=ask) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        time.sleep(0.5)
        twap("publish")
        deadline = time.monotonic() + 20
        while new not in answers[-CLIENTS:] and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for client in clients:
            client.join(timeout=15)

        assert failures == [] and mixed == []
        assert set(answers) == {old, new}, set(answers)
        assert answers[-1] == new
        assert get_json(f"{server.url}/-/healthz")["version"] != old_version
        assert server.process.poll() is None  # the same server, never restarted
