"""Spark as a cluster, as users run one: a standalone master and two workers as separate JVMs,
and a Spark Thrift server submitted to that master, all from pyspark's wheel and started here;
`twap run --warehouse spark` on the `spark_cluster` target (dbt-spark's `thrift` method) loads
the lake, builds on the cluster and publishes the marts and the file PostgreSQL gives.

Needs the Spark extra and Java 17: without them the test fails saying so, it never skips."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from dlt_pipelines.sample_data import generate
from tests.build.test_spark import (
    assert_same_build,
    assert_same_marts,
    copy_objects,
    postgres_reference,
    require_spark_extra,
    twap_on_spark,
)
from tests.conftest import Twap, free_port, get_json

pytestmark = pytest.mark.spark
# A JVM's start on a loaded 2-core machine: the Thrift server's took 30 s at load average 9.
START_SECONDS = 240.0
STOP_SECONDS = 30.0
WORKERS = 2


def spark_home() -> Path:
    """pyspark's wheel is a Spark distribution: bin/spark-class and the jars."""
    import pyspark  # here: without the Spark extra, require_spark_extra says so first

    return Path(pyspark.__file__).parent


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Jvm:
    process: subprocess.Popen
    log: Path

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Poll `ready` until it holds; fail with the end of the log when the JVM exits or
        START_SECONDS pass first."""
        deadline = time.monotonic() + START_SECONDS
        while not ready():
            exited = self.process.poll()
            if exited is not None or time.monotonic() > deadline:
                why = f"exited {exited}" if exited is not None else f"not in {START_SECONDS:.0f} s"
                pytest.fail(f"{what}: {why}; {self.log}:\n{tail(self.log)}")
            time.sleep(0.5)


@dataclass(frozen=True)
class Cluster:
    master_ui: str  # the master's web UI: its /json/ lists workers and applications
    thrift_port: int
    warehouse: Path  # the Thrift server's spark.sql.warehouse.dir
    last_worker: Jvm
    thrift_server: Jvm

    def wait_ready(self) -> None:
        """Until both workers have registered and the Thrift server listens."""
        self.last_worker.wait_until(
            lambda: alive_workers(self.master_ui) == WORKERS, "two workers registered"
        )
        self.thrift_server.wait_until(
            lambda: port_open(self.thrift_port), "the Spark Thrift server listening"
        )


@contextmanager
def jvm(name: str, args: list[str], root: Path, env: dict[str, str]) -> Iterator[Jvm]:
    """`spark-class <args>` in a process group of its own (the JVMs it starts, such as a
    worker's executors, included), its output in `<name>.log`; the group is stopped after."""
    log = root / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Jvm(process, log)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
        # What outlived the term (an executor, a JVM that ignored it) goes too.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive_workers(master_ui: str) -> int:
    """How many workers the master counts alive (none while its web UI is not up yet)."""
    try:
        state = get_json(f"{master_ui}/json/")
    except OSError:
        return 0
    return sum(worker["state"] == "ALIVE" for worker in state["workers"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master, two workers (1 core, 1 GB each) and a Thrift server on the master, on
    127.0.0.1, with every file they write under the test's temporary directory. The workers
    and the Thrift server are still starting (Cluster.wait_ready), so a test does its other
    work meanwhile."""
    require_spark_extra()
    root = tmp_path_factory.mktemp("cluster")
    scratch = root / "tmp"
    scratch.mkdir()
    java_tmp = f"-Djava.io.tmpdir={scratch}"  # Hive's session folders, Spark's artifacts
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(scratch),
        "SPARK_DAEMON_JAVA_OPTS": java_tmp,
    }
    master_port, ui_port, thrift_port = free_port(), free_port(), free_port()
    master, master_ui = f"spark://127.0.0.1:{master_port}", f"http://127.0.0.1:{ui_port}"
    warehouse = root / "warehouse"
    # The master's and the workers' own heap; the Thrift server's driver takes the same variable.
    daemons = {**env, "SPARK_DAEMON_MEMORY": "256m"}
    with ExitStack() as stack:
        started = stack.enter_context(
            jvm(
                "master",
                ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(master_port), "--webui-port", str(ui_port)],
                root,
                daemons,
            )
        )  # fmt: skip
        started.wait_until(lambda: port_open(master_port), "the Spark master listening")
        for number in range(1, WORKERS + 1):
            work = root / f"worker{number}"
            work.mkdir()
            worker = stack.enter_context(
                jvm(
                    f"worker{number}",
                    ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                     "--cores", "1", "--memory", "1g", "--webui-port", "0",
                     "--work-dir", str(work), master],
                    root,
                    daemons,
                )
            )  # fmt: skip
        thrift_server = stack.enter_context(
            jvm(
                "thrift-server",
                ["org.apache.spark.deploy.SparkSubmit", "--master", master,
                 "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
                 "--name", "twap-thrift-server",
                 "--executor-memory", "1g",
                 "--total-executor-cores", str(WORKERS),
                 "--conf", "spark.ui.enabled=false",
                 "--conf", "spark.driver.host=127.0.0.1",
                 "--conf", "spark.driver.bindAddress=127.0.0.1",
                 "--conf", f"spark.sql.warehouse.dir={warehouse}",
                 "--conf", "spark.hadoop.javax.jdo.option.ConnectionURL="
                           f"jdbc:derby:;databaseName={root / 'metastore'};create=true",
                 "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={root} {java_tmp}",
                 "--conf", f"spark.executor.extraJavaOptions={java_tmp}",
                 "--hiveconf", f"hive.server2.thrift.port={thrift_port}",
                 "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
                 "spark-internal"],
                root,
                {**env, "SPARK_DAEMON_MEMORY": "1g"},
            )
        )  # fmt: skip
        yield Cluster(master_ui, thrift_port, warehouse, worker, thrift_server)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=1, seed=21, twaps_per_day=200, duplicate_rate=0.02)
    return out


def test_twap_on_a_spark_cluster_builds_the_marts_postgres_builds(
    twap: Twap, cluster: Cluster, sample: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    objects = sorted(sample.rglob("*.parquet"))
    copy_objects(sample, objects, source)
    postgres = postgres_reference(twap, source)  # while the cluster starts
    cluster.wait_ready()
    # What a scheduler on a cluster runs: the lake is a path every JVM here reads.
    twap.env.update(
        TWAP_SPARK_TARGET="spark_cluster",
        TWAP_SPARK_THRIFT_HOST="127.0.0.1",
        TWAP_SPARK_THRIFT_PORT=str(cluster.thrift_port),
    )
    run = twap_on_spark(twap, "run", "--warehouse", "spark", "--source", str(source))
    assert f"{len(objects)} loaded" in run
    assert "(written whole)" in run and "WARN" not in run
    # The tables are the Thrift server's (nothing of local mode's under the home), built by
    # its executors on both workers.
    assert not (twap.home / "spark" / "metastore").exists()
    state = get_json(f"{cluster.master_ui}/json/")
    assert [app["cores"] for app in state["activeapps"]] == [WORKERS], state
    assert [worker["coresused"] for worker in state["workers"]] == [1] * WORKERS, state
    assert_same_marts(twap, cluster.warehouse)
    assert_same_build(run, twap.home / "twap.db", postgres)
