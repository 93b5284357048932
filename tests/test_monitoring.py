"""What an operator graphs and alerts on: JSON log lines, the run metrics file (and its push to a
Pushgateway, here a real HTTP server on 127.0.0.1), /-/metrics of the served site, and the
example alert rules, checked with Debian's promtool."""

import base64
import http.server
import json
import re
import socket
import sqlite3
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from dlt_pipelines.sample_data import generate
from tests.conftest import S3, Twap, free_port, get_json, serving
from twap.settings import PROJECT_DIR

RULES = PROJECT_DIR / "monitoring" / "alerts.yml"
RULES_TESTS = PROJECT_DIR / "monitoring" / "alerts_test.yml"
CONFIG = PROJECT_DIR / "monitoring" / "prometheus.yml"
DASHBOARD = PROJECT_DIR / "monitoring" / "dashboard.json"
# The site's own series (/-/metrics); every other `twap_` series comes from a run's file.
SITE_SERIES = ("twap_http_", "twap_served_")
S3_SECRET = "s3-secret-do-not-print-0451"
DB_PASSWORD = "db-password-do-not-print-0451"
PUSH_PASSWORD = "push-password-do-not-print-0451"
SECRETS = (S3_SECRET, DB_PASSWORD, PUSH_PASSWORD)

Samples = dict[tuple[str, frozenset], float]


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, parsed by the client library's parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


@dataclass
class Pushed:
    method: str
    path: str
    authorization: str | None
    body: bytes


@dataclass
class Pushgateway:
    """A real HTTP endpoint that records what is pushed to it, as a Pushgateway would take it."""

    port: int
    received: list[Pushed] = field(default_factory=list)


@pytest.fixture
def pushgateway() -> Iterator[Pushgateway]:
    gateway = Pushgateway(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            gateway.received.append(
                Pushed("PUT", self.path, self.headers.get("Authorization"), body)
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gateway.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield gateway
    server.shutdown()
    server.server_close()


def json_lines(stderr: str) -> list[dict]:
    """Every line of stderr as a JSON object (fails on any line that is not one)."""
    return [json.loads(line) for line in stderr.splitlines()]


def figure_samples(line: dict, command: str) -> Samples:
    """The metric samples a step's figures make: `twap_<step>_<figure>{command, outcome|table}`."""
    found: Samples = {}
    for figure, figure_value in line["figures"].items():
        name = f"twap_{line['step']}_{figure}"
        counts = figure_value if isinstance(figure_value, dict) else {None: figure_value}
        label = "table" if figure in ("table_rows", "written_rows") else "outcome"
        for key, count in counts.items():
            labels = {"command": command, **({label: key} if key is not None else {})}
            found[(name, frozenset(labels.items()))] = count
    return found


def test_a_run_with_one_bad_object_logs_and_exports_the_same_figures(
    twap: Twap, s3: S3, pushgateway: Pushgateway, tmp_path: Path
) -> None:
    generate(tmp_path / "sample", days=1, seed=8, twaps_per_day=100)
    s3.create_bucket("monitored")
    keys = s3.upload_dir(tmp_path / "sample", "monitored", "events")
    s3.client().put_object(Bucket="monitored", Key="events/bad.parquet", Body=b"\x00\x01\x02 no")
    twap.env["AWS_SECRET_ACCESS_KEY"] = S3_SECRET
    # The embedded server trusts its socket: the password is never checked, only carried.
    twap.env["TWAP_DATABASE_URL"] = replace(twap.database, password=DB_PASSWORD).url
    twap.env["TWAP_PUSHGATEWAY_URL"] = f"http://ops:{PUSH_PASSWORD}@127.0.0.1:{pushgateway.port}"

    result = twap(
        "--log-format", "json",
        "run", "--source", "s3://monitored/events", "--s3-endpoint-url", s3.endpoint_url,
        check=False,
    )  # fmt: skip

    assert result.returncode == 3, result.stderr
    lines = json_lines(result.stderr)
    assert {line["run_id"] for line in lines} == {lines[0]["run_id"]}
    assert {line["command"] for line in lines} == {"run"}
    steps = {line["step"]: line for line in lines if line["step"]}
    assert list(steps) == ["load", "build", "publish"]
    assert all(step["level"] == "info" and step["seconds"] > 0 for step in steps.values())
    (failed,) = [line for line in lines if line["level"] == "error"]
    assert "s3://monitored/events/bad.parquet" in failed["message"]

    rows = twap.query("select count(*) from raw.twap_status_events")[0][0]
    load = steps["load"]["figures"]
    assert load["objects"] == {
        "listed": len(keys) + 1, "skipped": 0, "selected": len(keys) + 1, "new": len(keys) + 1,
        "changed": 0, "retried": 0, "loaded": len(keys), "failed": 1, "vanished": 0,
    }  # fmt: skip
    assert load["rows"] == {"loaded": rows, "rejected": 0}
    published = twap.home / "twap.db"
    with sqlite3.connect(published) as db:
        twaps = db.execute("select count(*) from fct_twaps").fetchone()[0]
        passed = db.execute("select count(*) from dbt_test_results where status = 'pass'")
        passed = passed.fetchone()[0]
    assert steps["publish"]["figures"]["table_rows"]["fct_twaps"] == twaps
    assert steps["build"]["figures"]["tests"]["passed"] == passed > 0

    text = (twap.home / "metrics" / "twap_run.prom").read_text()
    found = samples(text)
    for step in steps.values():  # every figure of every log line, and nothing else for it
        expected = figure_samples(step, "run")
        assert {k: v for k, v in found.items() if k[0].startswith(f"twap_{step['step']}_")} == (
            expected
        )
    assert value(found, "twap_run_exit_status", command="run") == 3
    assert value(found, "twap_load_objects", command="run", outcome="failed") == 1
    assert value(found, "twap_load_rows", command="run", outcome="loaded") == rows
    for step in steps:
        assert value(found, "twap_step_success", command="run", step=step) == 1
        duration = value(found, "twap_step_duration_seconds", command="run", step=step)
        assert duration == pytest.approx(steps[step]["seconds"], abs=0.001)
    # Exit 3 did the run's data work: a success to the "no run for 2 hours" alert.
    finished = value(found, "twap_run_last_success_timestamp_seconds", command="run")
    assert finished >= datetime.fromisoformat(lines[-1]["time"]).timestamp() - 1
    newest = json.loads((published.resolve().parent / "publication.json").read_text())[
        "newest_event_at"
    ]
    assert (
        value(found, "twap_publish_newest_event_timestamp_seconds", command="run")
        == datetime.fromisoformat(newest).timestamp()
    )

    (pushed,) = pushgateway.received
    assert pushed.path == f"/metrics/job/twap/command/run/instance/{socket.gethostname()}"
    assert (
        pushed.authorization
        == "Basic " + base64.b64encode(f"ops:{PUSH_PASSWORD}".encode()).decode()
    )
    assert pushed.body.decode() == text
    for secret in SECRETS:
        assert secret not in result.stderr and secret not in text
    assert S3_SECRET not in pushed.body.decode() and DB_PASSWORD not in pushed.body.decode()


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=1, seed=9, twaps_per_day=50)
    return out


def test_a_failed_run_keeps_when_its_steps_last_worked(twap: Twap, small_sample: Path) -> None:
    twap("load", "--source", str(small_sample))
    path = twap.home / "metrics" / "twap_load.prom"
    before = samples(path.read_text())

    result = twap("--log-format", "json", "load", "--source", "/nowhere", check=False)

    assert result.returncode == 1
    (error,) = json_lines(result.stderr)[-1:]
    assert error["level"] == "error" and "source not found" in error["message"]
    assert "Traceback" not in result.stderr
    after = samples(path.read_text())
    assert value(after, "twap_run_exit_status", command="load") == 1
    assert value(after, "twap_step_success", command="load", step="load") == 0
    for name, labels in (
        ("twap_run_last_success_timestamp_seconds", {"command": "load"}),
        ("twap_step_last_success_timestamp_seconds", {"command": "load", "step": "load"}),
    ):
        assert value(after, name, **labels) == value(before, name, **labels)
    assert ("twap_load_objects", frozenset({"command": "load", "outcome": "listed"}.items())) in (
        before
    )
    assert not [key for key in after if key[0] == "twap_load_objects"]


def test_a_build_whose_dbt_tests_fail_counts_them(twap: Twap, small_sample: Path) -> None:
    twap("load", "--source", str(small_sample))
    # A raw row written around ingestion breaks a staging test (as in test_faults.py).
    twap.query("update raw.twap_status_events set side = 'X' where object_row = 0 returning 1")

    result = twap("--log-format", "json", "build", check=False)

    assert result.returncode == 1
    (error,) = [line for line in json_lines(result.stderr) if line["level"] == "error"]
    assert "raw_event_has_a_side" in error["message"] and error["command"] == "build"
    found = samples((twap.home / "metrics" / "twap_build.prom").read_text())
    assert value(found, "twap_run_exit_status", command="build") == 1
    assert value(found, "twap_step_success", command="build", step="build") == 0
    assert value(found, "twap_build_tests", command="build", outcome="fail") >= 1
    assert value(found, "twap_build_tests", command="build", outcome="passed") > 0
    assert (
        "twap_run_last_success_timestamp_seconds",
        frozenset({"command": "build"}.items()),
    ) not in found


def one_line(result: subprocess.CompletedProcess, status: int, *fragments: str) -> str:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "error" in line]
    for fragment in fragments:
        assert fragment in line, line
    return line


def test_bad_monitoring_settings_are_one_line_before_any_work(
    twap: Twap, small_sample: Path, tmp_path: Path
) -> None:
    source = str(small_sample)
    one_line(twap("--log-format", "xml", "load", check=False), 2, "--log-format", "json")
    twap.env["TWAP_LOG_FORMAT"] = "xml"
    one_line(twap("load", "--source", source, check=False), 2, "TWAP_LOG_FORMAT", "json")
    del twap.env["TWAP_LOG_FORMAT"]

    (tmp_path / "a-file").write_text("")
    twap.env["TWAP_METRICS_DIR"] = str(tmp_path / "a-file" / "metrics")
    one_line(twap("load", "--source", source, check=False), 1, "cannot write metrics to", "a-file")
    del twap.env["TWAP_METRICS_DIR"]

    twap.env["TWAP_PUSHGATEWAY_URL"] = f"ftp://ops:{PUSH_PASSWORD}@gateway"
    line = one_line(twap("load", "--source", source, check=False), 1, "malformed Pushgateway URL")
    assert PUSH_PASSWORD not in line
    # Nothing was done: no raw table, no ledger.
    assert twap.query("select to_regclass('raw.twap_status_events')") == [(None,)]

    # An unreachable gateway: the data work is done, the file written, the push failure one line.
    port = free_port()
    twap.env["TWAP_PUSHGATEWAY_URL"] = f"http://ops:{PUSH_PASSWORD}@127.0.0.1:{port}"
    result = twap("load", "--source", source, check=False)
    line = one_line(result, 0, f"push to http://127.0.0.1:{port} failed", "unaffected")
    assert PUSH_PASSWORD not in result.stderr
    found = samples((twap.home / "metrics" / "twap_load.prom").read_text())
    assert value(found, "twap_load_objects", command="load", outcome="loaded") == 24


def fetch(url: str, method: str = "GET") -> tuple[int, str, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["content-type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["content-type"], error.read().decode()


def test_site_metrics_count_every_request_of_every_worker(site: Twap) -> None:
    table = "/twap/fct_twaps.json?_size=3"
    query = "/twap/active_twaps.json?_shape=array&page_size=5"
    with serving(site, "--workers", "2", "--log-format", "json") as server:
        # Each a new connection: the kernel spreads them over both workers.
        for _ in range(6):
            assert fetch(server.url + table)[0] == 200
        for _ in range(3):
            assert fetch(server.url + query)[0] == 200
        assert fetch(server.url + "/twap/fct_twaps.json?_size=1&_size=2")[0] == 400
        assert fetch(server.url + table, method="POST")[0] == 405
        # Datasette's own 400 (a page too large): a client error, not one of the guard's refusals.
        assert fetch(server.url + "/twap/fct_twaps.json?_size=5000")[0] == 400
        health = get_json(f"{server.url}/-/healthz")
        scrapes = [fetch(f"{server.url}/-/metrics?any=thing") for _ in range(4)]

    # The supervisor's and the workers' lines, each one JSON object (a worker the kernel gave
    # no connection may not have logged yet).
    log = json_lines((site.home.parent / f"serve-{server.url.rsplit(':', 1)[1]}.log").read_text())
    assert f"serving version {health['version']}" in [line["message"] for line in log]
    assert "Datasette workers on" in log[0]["message"]
    for status, content_type, text in scrapes:
        assert status == 200 and content_type == CONTENT_TYPE_LATEST
        found = samples(text)
        requests = {
            (dict(labels)["route"], dict(labels)["status"]): count
            for (name, labels), count in found.items()
            if name == "twap_http_requests_total" and dict(labels)["route"] in ("table", "query")
        }
        assert requests == {("table", "200"): 6, ("query", "200"): 3, ("table", "400"): 2,
                            ("table", "405"): 1}  # fmt: skip
        assert value(found, "twap_http_request_duration_seconds_count", route="table") == 9
        assert value(found, "twap_http_request_duration_seconds_count", route="query") == 3
        assert value(found, "twap_http_requests_refused_total", reason="bounds") == 1
        assert value(found, "twap_http_requests_refused_total", reason="method") == 1
        assert value(found, "twap_served_version_info", version=health["version"]) == 1
        assert value(found, "twap_served_data_age_seconds") == pytest.approx(
            health["data_age_seconds"], abs=60
        )
        assert value(found, "twap_served_objects", status="loaded") == (health["objects"]["loaded"])
    assert {route for (name, labels) in found if name == "twap_http_requests_total"
            for key, route in labels if key == "route"} >= {"table", "query", "health"}  # fmt: skip


def metric_names_of_the_project(site: Twap) -> set[str]:
    """Every metric family the project emits: a run's file and the site's /-/metrics."""
    names = set()
    texts = [path.read_text() for path in (site.home / "metrics").glob("*.prom")]
    with serving(site, "--workers", "1") as server:
        fetch(server.url + "/twap/fct_twaps.json?_size=1&_size=2")
        texts.append(fetch(f"{server.url}/-/metrics")[2])
    for text in texts:
        for family in text_string_to_metric_families(text):
            names |= {sample.name for sample in family.samples}
    return names


@pytest.mark.promtool
def test_alert_rules_are_valid_fire_when_they_should_and_use_real_metrics(site: Twap) -> None:
    # The example configuration, and the rules it loads.
    check = subprocess.run(
        ["promtool", "check", "config", str(CONFIG)], capture_output=True, text=True
    )
    assert check.returncode == 0 and "7 rules found" in check.stdout, check.stdout + check.stderr
    # The rules' unit tests: each alert fires on the series that should fire it, and only then.
    tested = subprocess.run(
        ["promtool", "test", "rules", RULES_TESTS.name],
        cwd=RULES_TESTS.parent,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr

    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    alerts = {rule["alert"] for rule in rules}
    assert {"TwapDataStale", "TwapRunFailed", "TwapObjectsFailing", "TwapServerErrors",
            "TwapSlowPages"} <= alerts  # fmt: skip
    emitted = metric_names_of_the_project(site)
    for rule in rules:
        used = set(re.findall(r"\btwap_[a-z_]+", rule["expr"]))
        assert used and used <= emitted, (rule["alert"], used - emitted)
    # The dashboard's queries: valid PromQL (as recording rules), on series the project emits.
    graphs = dashboard_queries()
    recorded = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"twap:dashboard_{n}", "expr": expr} for n, expr in enumerate(graphs)
    ]}]}  # fmt: skip
    as_rules = site.home.parent / "dashboard-rules.yml"
    as_rules.write_text(yaml.safe_dump(recorded))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(as_rules)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for expr in graphs:
        used = set(re.findall(r"\btwap_[a-z_]+", expr))
        assert used and used <= emitted, (expr, used - emitted)


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def monitored_run_series() -> set[str]:
    """Every series of a run's file that monitoring/'s alerts and dashboard use."""
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    exprs = [rule["expr"] for rule in rules] + dashboard_queries()
    names = {name for expr in exprs for name in re.findall(r"\btwap_[a-z_]+", expr)}
    return {name for name in names if not name.startswith(SITE_SERIES)}


def test_a_quiet_run_still_writes_every_series_the_alerts_and_dashboard_use(
    twap: Twap, small_sample: Path
) -> None:
    twap("run", "--source", str(small_sample))
    path = twap.home / "metrics" / "twap_run.prom"
    busy = samples(path.read_text())

    quiet = twap("run", "--source", str(small_sample))

    assert "nothing new" in quiet.stderr
    found = samples(path.read_text())
    used = monitored_run_series()
    assert {"twap_build_tests", "twap_publish_newest_event_timestamp_seconds"} <= used
    assert used <= {name for name, _ in found}, used - {name for name, _ in found}
    # What the last build and publish made, as they made it: the freshness graph stays drawn.
    carried = {
        key: v for key, v in busy.items() if key[0].startswith(("twap_build_", "twap_publish_"))
    }
    assert carried and {key: found[key] for key in carried} == carried
    assert value(found, "twap_load_objects", command="run", outcome="selected") == 0
    assert value(found, "twap_run_exit_status", command="run") == 0
