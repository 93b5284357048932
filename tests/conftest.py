"""Real parts for the tests: an embedded PostgreSQL, an S3 server (moto) on 127.0.0.1, and the
`twap` command run as a subprocess exactly as a user or a scheduler runs it."""

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from dlt_pipelines.sample_data import generate
from tests.prerequisites import how_to_install, in_ci, missing_at_start, needed_by
from twap.database import Database, embedded_database, stop_embedded
from twap.settings import PROJECT_DIR

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# The names of the databases the tests hold now (on this worker's server).
_databases_in_use: set[str] = set()
# For `faketime`: shift the wall clock only (a faked monotonic clock hangs `twap`), without
# libfaketime's monotonic fix, which makes every wait for Python's GIL about four times slower.
WALL_CLOCK_ONLY = {"FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_FORCE_MONOTONIC_FIX": "0"}
PARTIAL_PARSE = "partial_parse.msgpack"  # dbt's saved parse, in its target path
# The longest files, their tests handed out first (`make test`: --dist load gives each worker the
# next test when it is free): a long test handed out last would leave the other worker idle.
LONGEST_FIRST = (
    "test_faults.py",
    "test_spark.py",
    "test_spark_cluster.py",
    "test_ingestion.py",
    "test_models.py",
    "test_cli.py",
    "test_docs.py",
    "test_versions.py",
    "test_hourly.py",
    "test_real_data.py",
    "test_monitoring.py",
    "test_pipeline.py",
    "test_bad_input.py",
    "test_dbt_runner.py",
    "test_republish.py",
    "test_serve_limits.py",
    "test_remaining.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file's tests stay together and in order


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked with a system prerequisite that is missing (tests/prerequisites.py) is
    skipped, or failed under CI; the same words for every test, so `-ra` shows one line."""
    if needed_by({marker.name for marker in item.iter_markers()}):
        message = how_to_install(missing_at_start())
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One embedded server for the session (the project's own wheel, not a system package)."""
    home = tmp_path_factory.mktemp("pg")
    server = embedded_database(home)
    # No fsync: a test kills clients and restarts the server, never the machine, and a commit
    # then costs 0.1 ms instead of the disk's 7 (kept in postgresql.auto.conf across restarts).
    for setting in ("fsync", "synchronous_commit", "full_page_writes"):
        admin(server, f"alter system set {setting} = off")
    admin(server, "select pg_reload_conf()")
    yield server
    stop_embedded(home)


@contextmanager
def new_database(postgres: Database) -> Iterator[Database]:
    """A fresh, empty database on the session's server, dropped afterwards. Its name is the
    first one free (twap_test_0, twap_test_1, ...), so later tests reuse dbt's parse of it."""
    name = next(
        name
        for name in (f"twap_test_{n}" for n in itertools.count())
        if name not in _databases_in_use
    )
    _databases_in_use.add(name)
    try:
        admin(postgres, f"create database {name}")
        yield Database(postgres.host, postgres.port, postgres.user, postgres.password, name)
    finally:
        # A new connection: a test may have restarted the server in between.
        admin(postgres, f"drop database if exists {name} with (force)")
        _databases_in_use.discard(name)


def admin(postgres: Database, sql: str) -> None:
    with closing(postgres.connect()) as conn:
        conn.autocommit = True
        conn.cursor().execute(sql)


@pytest.fixture
def database(postgres: Database) -> Iterator[Database]:
    """A fresh, empty database on the session's server for one test."""
    with new_database(postgres) as fresh:
        yield fresh


@dataclass(frozen=True)
class S3:
    endpoint_url: str

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint_url, **_boto_kwargs())

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def upload_dir(self, local: Path, bucket: str, prefix: str) -> list[str]:
        client = self.client()
        keys = []
        for path in sorted(local.rglob("*.parquet")):
            key = f"{prefix}/{path.relative_to(local).as_posix()}"
            client.upload_file(str(path), bucket, key)
            keys.append(key)
        return keys


def _boto_kwargs() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        "region_name": FAKE_AWS["AWS_DEFAULT_REGION"],
    }


def start_moto() -> ThreadedMotoServer:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    """A real S3 endpoint on 127.0.0.1 (moto in server mode)."""
    server = start_moto()
    host, port = server.get_host_and_port()
    yield S3(f"http://{host}:{port}")
    server.stop()


@dataclass
class Twap:
    """Runs `twap` in a subprocess with its own TWAP_HOME and the test's database."""

    home: Path
    database: Database
    env: dict[str, str]

    def __call__(
        self, *args: str, check: bool = True, clock: str | None = None
    ) -> subprocess.CompletedProcess:
        """`twap args`; with `clock` (faketime's offset, e.g. `+2h`) on a shifted wall clock."""
        shifted = ["faketime", "-f", clock] if clock else []
        result = subprocess.run(
            [*shifted, sys.executable, "-m", "twap.cli", *args],
            env={**self.env, **WALL_CLOCK_ONLY} if clock else self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"twap {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.database.connect() as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def make_twap(home: Path, database: Database) -> Twap:
    env = {**os.environ, **FAKE_AWS, "TWAP_HOME": str(home), "TWAP_DATABASE_URL": database.url}
    env.pop("TWAP_SOURCE_URL", None)
    env.pop("TWAP_PUBLISH_PATH", None)
    target = home / "dbt" / "target"  # twap's dbt target path (Settings.dbt_dir)
    target.mkdir(parents=True, exist_ok=True)  # a home may come with a target of its own
    if not (target / PARTIAL_PARSE).exists():  # ... whose saved parse is kept
        shutil.copyfile(dbt_parse(database), target / PARTIAL_PARSE)
    return Twap(home=home, database=database, env=env)


def dbt_parse(database: Database) -> Path:
    """dbt's saved parse of the project for `database`, made once per database name on this
    worker's server: in a new home, `twap`'s first build then parses what changed since (as
    every later build does) instead of the whole project, seconds a test. The saved parse is
    dbt's to reuse only where the profile's connection (database name included) is the same."""
    out = Path(database.host).parent / "dbt-parse" / database.dbname
    if not (out / "target" / PARTIAL_PARSE).exists():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_DIR / "profiles.yml.example", out / "profiles.yml")
        subprocess.run(
            [
                str(Path(sys.executable).parent / "dbt"), "parse", "--no-use-colors",
                "--project-dir", str(PROJECT_DIR),
                "--profiles-dir", str(out),
                "--target-path", str(out / "target"),
                "--log-path", str(out / "logs"),
            ],
            env={**os.environ, **database.libpq_env()},
            capture_output=True,
            check=True,
        )  # fmt: skip
    return out / "target" / PARTIAL_PARSE


@pytest.fixture
def twap(tmp_path: Path, database: Database) -> Twap:
    return make_twap(tmp_path / "home", database)


@pytest.fixture(scope="session")
def site(postgres: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twap]:
    """Two days of sample data loaded, built and published for every test that reads it: the
    first day in full, the second as an hour later's delta (twap/publish/tables.py)."""
    root = tmp_path_factory.mktemp("site")
    generate(root / "days", days=2, seed=3, twaps_per_day=400)
    source = root / "sample"
    with new_database(postgres) as database:
        published = make_twap(root / "home", database)
        for day in sorted((root / "days").glob("*/*/*")):  # YYYY/MM/DD folders
            shutil.copytree(day, source / day.relative_to(root / "days"))
            published("run", "--source", str(source))
        yield published


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> dict | list:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def wait_for(url: str, timeout: float = 30.0) -> dict | list:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get_json(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class Server:
    url: str
    process: subprocess.Popen


@contextmanager
def serving(twap: Twap, *args: str) -> Iterator[Server]:
    """`twap serve` on a free port, its output in a file beside TWAP_HOME; stopped afterwards."""
    port = free_port()
    with (twap.home.parent / f"serve-{port}.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "twap.cli", "serve", "--port", str(port), *args],
            env=twap.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            server = Server(f"http://127.0.0.1:{port}", process)
            wait_for(f"{server.url}/-/healthz")
            yield server
        finally:
            process.terminate()
            process.wait(timeout=10)
