"""README.md and every file of docs/ are exactly right: every fenced command runs here as written
(against the demo's own data, a local S3 server standing in for the real bucket), every URL
answers, every link resolves, and the commands, flags and limits they quote are the code's. One
demo serves the checks of every file."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
import yaml

from dlt_pipelines.sample_data import generate
from tests.conftest import S3, free_port, new_database, wait_for
from twap.cli import cli
from twap.database import Database
from twap.settings import PROJECT_DIR
from twap.site.app import DATASETTE_SETTINGS
from twap.site.parameters import MAX_PAGE_SIZE

# The README, then one file per reader: {path relative to the checkout: text}.
DOCS = {
    path.relative_to(PROJECT_DIR).as_posix(): path.read_text()
    for path in [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]
}
README = DOCS["README.md"]
ALL_DOCS = "\n".join(DOCS.values())
DEMO_URL = "http://127.0.0.1:8001"
# What `make demo` prints before Datasette answers must fit on one terminal screen.
SCREEN_LINES = 24
# The README at a glance: its length, and what a newcomer must see on its first screen (a
# browser window of it): the sections, the two commands, a link to every file of docs/.
README_LINES = 200
FIRST_SCREEN = 50
FIRST_SCREEN_SECTIONS = ("## Two commands", "## What you will see", "## Where to go next")


def split(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """A markdown file's fenced blocks, (language, text), and its lines outside them."""
    found, prose, language, lines = [], [], None, []
    for line in text.splitlines(keepends=True):
        if line.startswith("```") and language is None:
            language, lines = line[3:].strip(), []
        elif line.startswith("```"):
            found.append((language, "".join(lines)))
            language = None
        elif language is not None:
            lines.append(line)
        else:
            prose.append(line)
    return found, prose


def blocks() -> list[tuple[str, str]]:
    """Every fenced block of the README and docs/: (language, text)."""
    return [block for text in DOCS.values() for block in split(text)[0]]


def fenced(language: str) -> list[str]:
    return [text for kind, text in blocks() if kind == language]


def prose() -> str:
    """The README and docs/ outside their fenced blocks."""
    return "".join(line for text in DOCS.values() for line in split(text)[1])


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, dashes."""
    headings = (line.lstrip("#").strip() for line in split(text)[1] if line.startswith("#"))
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", "", block)
    lines = (re.sub(r"(^|\s+)#\s.*$", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


def sh_commands() -> list[str]:
    return [command for block in fenced("sh") for command in commands(block)]


@dataclass
class Demo:
    url: str
    home: Path
    database: Database
    output: list[str]


@pytest.fixture(scope="module")
def demo(postgres: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """What `make demo` runs once installed (`make -n demo` says so below), on a free port."""
    root = tmp_path_factory.mktemp("demo")
    port = free_port()
    with new_database(postgres) as database, (root / "demo.log").open("w+") as log:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TWAP_")},
            "TWAP_HOME": str(root / "home"),
            "TWAP_DATABASE_URL": database.url,
        }
        process = subprocess.Popen(
            [Path(sys.executable).with_name("twap"), "demo", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/-/healthz", timeout=300)
            log.seek(0)
            yield Demo(f"http://127.0.0.1:{port}", root / "home", database, log.readlines())
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A directory laid out as a checkout after `make install`: the dbt project and `.venv`."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("dbt_project.yml", "profiles.yml.example"):
        shutil.copy(PROJECT_DIR / name, root / name)
    for name in ("models", "dbt_project"):
        shutil.copytree(PROJECT_DIR / name, root / name)
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (root / ".twap").mkdir()  # as `make demo` leaves it
    # The README's AWS profile, with the local S3 server's test keys.
    (root / ".aws").mkdir()
    (root / ".aws" / "credentials").write_text(
        "[my-account]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    return root


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
    return result


def get(url: str) -> tuple[int, bytes]:
    status, _, body = get_with_headers(url)
    return status, body


def get_with_headers(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (names in lower case) and body; a 4xx or 5xx is an answer too."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def test_every_command_of_the_docs_is_run_here() -> None:
    handled = (
        r"make (demo|test|test-spark|test-times)",
        r"curl -s( -D - -o /dev/null)? '[^']+'",
        r"\.venv/bin/twap sample-data --days \d+ --out \S+",
        r'psql -c "[^"]+"',
        r"export AWS_PROFILE=my-account",
        r"\.venv/bin/twap run --source s3://\S+ --requester-pays --s3-region us-east-1",
        r"cp profiles\.yml\.example profiles\.yml",
        r'eval "\$\(\.venv/bin/twap env\)"',
        r"\.venv/bin/dbt run-operation setup_warehouse",
        r"\.venv/bin/dbt build",
        r"\.venv/bin/pytest .+",
    )
    unrun = [c for c in sh_commands() if not any(re.fullmatch(p, c) for p in handled)]
    assert not unrun, f"documented commands no test runs: {unrun}"
    assert {language for language, _ in blocks()} == {
        "",
        "sh",
        "toml",
        "cron",
        "ini",
        "nginx",
        "yaml",
    }
    # The load balancer's configuration runs elsewhere: it must point at `twap serve`'s port.
    (nginx,) = fenced("nginx")
    assert all(port == "8001" for port in re.findall(r"server [\d.]+:(\d+);", nginx)), nginx


def test_make_demo_and_make_test_run_what_the_readme_says() -> None:
    def dry_run(*arguments: str) -> list[str]:
        result = subprocess.run(
            ["make", "--dry-run", "--no-print-directory", *arguments],
            cwd=PROJECT_DIR,
            # Under `make test` the outer make's flags would reach this one.
            env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.splitlines()

    assert {"make demo", "make test", "make test-spark"} <= set(sh_commands())
    # The `demo` fixture runs just that, on a port of its own, as `make demo PORT=…` does.
    assert "`make demo PORT=8002`" in README
    assert shlex.split(dry_run("demo", "PORT=8002")[-1]) == [
        ".venv/bin/twap",
        "demo",
        "--port",
        "8002",
    ]
    assert shlex.split(dry_run("demo")[-1])[:2] == [".venv/bin/twap", "demo"]
    assert dry_run("test")[-1].startswith(".venv/bin/pytest")
    assert any("ruff check" in line for line in dry_run("test"))
    assert any("sqlfluff lint" in line for line in dry_run("test"))
    spark = dry_run("test-spark")[-1]
    assert spark.startswith(".venv/bin/pytest") and "spark" in spark, spark
    assert "junit_times" in dry_run("test-times")[-1]


def test_the_demo_prints_one_line_per_step_on_one_screen(demo: Demo) -> None:
    output = "".join(demo.output)
    assert len(demo.output) <= SCREEN_LINES, output
    assert "warn" not in output.lower(), output
    steps = [line.split()[1] for line in demo.output if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert steps == ["sample-data", "database:", "load", "build", "publish", "serve:"], output
    # The sample repeats a few events in the next hour's object: the publish line says so.
    loaded = int(re.search(r" load in .* loaded \((\d+) rows", output).group(1))
    events = int(re.search(r" publish in .* (\d+) events", output).group(1))
    assert loaded > events
    assert f"{events} events ({loaded} rows loaded, {loaded - events} duplicates merged)" in output
    log = demo.home / "dbt" / "logs" / "dbt.log"
    assert f"dbt's output in {log}\n" in output and "Completed successfully" in log.read_text()
    assert f"Datasette workers on {demo.url}/ (Ctrl-C to stop)" in output
    assert f"{DEMO_URL}/ (Ctrl-C to stop)" in README


def test_every_curl_example_answers_with_rows_from_the_demo(demo: Demo) -> None:
    curls = [c for c in sh_commands() if c.startswith("curl ")]
    assert len(curls) >= 8
    for command in curls:
        url = shlex.split(command)[-1].replace(DEMO_URL, demo.url)
        status, headers, body = get_with_headers(url)
        assert status == 200, f"{command}: {status} {body[:300]!r}"
        assert body.strip() not in (b"[]", b"{}"), f"{command}: no rows"
        if "-D -" in command:  # shown for its headers: a full page names the next one
            link = {name.lower(): value for name, value in headers.items()}.get("link", "")
            assert 'rel="next"' in link, f"{command}: {headers}"
        answer = json.loads(body) if url.split("?")[0].endswith(".json") else None
        if isinstance(answer, dict) and answer.get("next_url"):
            next_url = answer["next_url"].replace(DEMO_URL, demo.url)
            assert get(next_url)[0] == 200, f"{command}: next_url {next_url}"


def test_every_url_and_path_of_the_site_in_the_docs_answers(demo: Demo) -> None:
    text = prose()  # the curl commands of the fenced blocks: the test above
    urls = set(re.findall(rf"{re.escape(DEMO_URL)}/[\w/.-]*", text))
    paths = set(re.findall(r"`(/(?:-/[\w-]+|robots\.txt|twap/[\w/]+(?:\?[\w=&]+)?))`", text))
    assert f"{DEMO_URL}/" in urls and {"/-/charts", "/twap/active_twaps?coin=HYPE"} <= paths
    for url in sorted(urls) + [DEMO_URL + path for path in sorted(paths)]:
        status, _ = get(url.replace(DEMO_URL, demo.url))
        assert status == 200, url


def test_the_published_files_are_where_the_readme_says(demo: Demo) -> None:
    listing = next(block for block in fenced("") if "twap.db.versions" in block)
    assert (demo.home / "twap.db").is_symlink()
    version = (demo.home / "twap.db").resolve().parent
    for name in re.findall(r"<version>/(\S+)", listing):
        assert (version / name).is_file(), name


def test_the_real_dataset_commands_and_config_run_against_a_local_s3(
    s3: S3, postgres: Database, checkout: Path, tmp_path: Path
) -> None:
    """The requester-pays bucket of the README, stood in for by the local S3 server."""
    command = next(c for c in sh_commands() if "--requester-pays" in c)
    source = re.search(r"--source s3://([^/]+)/(\S+?)/? ", command)
    bucket, prefix = source.group(1), source.group(2)
    generate(tmp_path / "sample", days=1, seed=4, twaps_per_day=100)  # 24 hourly objects
    s3.create_bucket(bucket)
    s3.upload_dir(tmp_path / "sample", bucket, prefix)
    block = next(block for block in fenced("sh") if "--requester-pays" in block)
    with new_database(postgres) as database:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TWAP_"))},
            "HOME": str(checkout),  # ~/.aws/credentials has the README's profile
            "SOURCES__HYPERLIQUID_TWAP__CREDENTIALS__ENDPOINT_URL": s3.endpoint_url,
            "TWAP_HOME": str(tmp_path / "home"),
            "TWAP_DATABASE_URL": database.url,
        }
        first = bash(block, checkout, env)
        assert "24 objects listed (0 skipped), 24 to read (24 new" in first.stderr, first.stderr

        # The same source from `.dlt/config.toml` instead of flags: nothing new to read.
        (checkout / ".dlt").mkdir()
        for block in fenced("toml"):
            if block.startswith("# .dlt/"):
                (checkout / block.split()[1]).write_text(block)  # the file its first line names
        again = bash("export AWS_PROFILE=my-account\n.venv/bin/twap load", checkout, env)
        assert "24 objects listed (0 skipped), 0 to read" in again.stderr, again.stderr


def test_dbt_and_cron_lines_run_as_written(demo: Demo, checkout: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TWAP_")},
        "TWAP_DATABASE_URL": demo.database.url,
        "TWAP_SOURCE_URL": str(demo.home / "sample"),
    }
    dbt = next(block for block in fenced("sh") if "dbt build" in block)
    assert "Completed successfully" in bash(dbt, checkout, env).stdout
    # The docs site of that build: every column of every published mart is described.
    bash('eval "$(.venv/bin/twap env)"\n.venv/bin/dbt docs generate', checkout, env)
    catalog = json.loads((checkout / "target" / "catalog.json").read_text())["nodes"]
    manifest = json.loads((checkout / "target" / "manifest.json").read_text())["nodes"]
    marts = {
        key: node
        for key, node in manifest.items()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }
    assert {node["name"] for node in marts.values()} == {
        path.stem for path in (PROJECT_DIR / "models" / "marts").glob("*.sql")
    }
    for key, node in marts.items():
        assert node["description"], key
        described = {name for name, column in node["columns"].items() if column["description"]}
        assert set(catalog[key]["columns"]) == described, key

    hourly, daily = commands(fenced("cron")[0])
    for line in (hourly, daily):
        schedule, command = line.split(None, 5)[:5], line.split(None, 5)[5]
        assert len(schedule) == 5 and command.startswith("cd /srv/twap && ")
        bash(command.replace("/srv/twap", str(checkout)), checkout, env)
    # Nothing new to read for either; the daily line builds anyway, with the unit tests.
    log = (checkout / ".twap" / "run.log").read_text()
    assert log.count("0 to read") == 2 and "build in" in log.split("0 to read")[-1]
    results = json.loads((checkout / ".twap" / "dbt" / "target" / "run_results.json").read_text())
    assert any(result["unique_id"].startswith("unit_test.") for result in results["results"])


def test_the_developers_pytest_commands_collect_tests() -> None:
    """Each pytest line of the developer's loop, as far as collecting: its files, markers and
    flags are the suite's (running them is `make test`'s job, not this test's)."""
    loop = [c for c in sh_commands() if c.startswith(".venv/bin/pytest ")]
    assert len(loop) >= 3, loop
    for command in loop:
        arguments = [*shlex.split(command)[1:], "--collect-only", "--quiet", "-n", "0"]
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *arguments],
            cwd=PROJECT_DIR,
            # Not this run's xdist worker or current test: a pytest of its own.
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            capture_output=True,
            text=True,
            timeout=300,
        )
        # 5 when it selects no test, 4 for a marker or flag the suite does not know.
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr}"


def test_every_prompted_twap_example_prints_what_the_docs_show(tmp_path: Path) -> None:
    """Plain blocks of `$ twap …` lines and their output (errors before any work is done)."""
    examples = [
        (line[2:], output)
        for block in fenced("")
        for line, output in re.findall(r"^(\$ twap .*)\n((?:(?!\$ ).*\n)*)", block, re.MULTILINE)
    ]
    assert len(examples) >= 2, examples
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TWAP_")},
        "TWAP_HOME": str(tmp_path / "home"),
    }
    for command, output in examples:
        program, *args = shlex.split(command)
        result = subprocess.run(
            [Path(sys.executable).with_name(program), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0, command
        # The docs show the lines without the time a log line starts with.
        printed = re.sub(r"^\d\d:\d\d:\d\d ", "", result.stdout + result.stderr, flags=re.MULTILINE)
        for line in output.splitlines():
            assert line in printed.splitlines(), f"{command}: {line}"
    assert not (tmp_path / "home").exists(), "an example started work before refusing"


def test_the_sample_data_command_ends_at_the_current_hour(tmp_path: Path) -> None:
    (command,) = [c for c in sh_commands() if c.startswith(".venv/bin/twap sample-data ")]
    args = shlex.split(command)[1:]
    args[args.index("--out") + 1] = str(tmp_path)
    subprocess.run([Path(sys.executable).with_name("twap"), *args], check=True, timeout=300)
    hours = sorted(
        datetime.strptime(path.relative_to(tmp_path).as_posix(), "%Y/%m/%d/%H.parquet")
        for path in tmp_path.rglob("*.parquet")
    )
    days = timedelta(days=int(args[args.index("--days") + 1]))
    now = datetime.now(UTC).replace(tzinfo=None)
    assert now - days - timedelta(hours=1) <= hours[0], f"{hours[0]}: more than --days before {now}"
    assert now - timedelta(hours=2) <= hours[-1] <= now, f"{hours[-1]} is not the hour before {now}"


def test_every_sql_of_the_docs_runs_on_the_demos_database(demo: Demo) -> None:
    queries = [shlex.split(c)[-1] for c in sh_commands() if c.startswith("psql -c ")]
    assert queries
    with demo.database.connect() as connection, connection.cursor() as cursor:
        for query in queries:
            cursor.execute(query)
            cursor.fetchall()
        connection.rollback()


def test_the_alert_examples_use_metrics_the_docs_list() -> None:
    """Alert rules to add by hand: valid Prometheus rules on metrics of the metric tables."""
    table_rows = "".join(re.findall(r"^\| `twap_.*", ALL_DOCS, re.MULTILINE))
    listed = set(re.findall(r"`(twap_\w+)`", table_rows))
    for block in fenced("yaml"):
        for rule in yaml.safe_load(block):
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            metrics = set(re.findall(r"\b(twap_\w+)\{", rule["expr"]))
            assert metrics and metrics <= listed, f"{rule['alert']}: {metrics - listed}"


def test_the_systemd_unit_runs_a_valid_twap_command() -> None:
    (unit,) = fenced("ini")
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", unit, re.MULTILINE)
    program, *args = shlex.split(exec_start)
    assert program == "/srv/twap/.venv/bin/twap"
    name, command, rest = cli.resolve_command(click.Context(cli), args)
    assert name == "run"
    command.make_context(name, rest)  # its flags are the command's: a usage error otherwise
    assert "OnCalendar=hourly" in unit and "WorkingDirectory=/srv/twap" in unit


def test_the_command_table_lists_every_command_with_real_flags() -> None:
    rows = re.findall(r"^\| `twap ([\w-]+)([^`]*)` \|", ALL_DOCS, re.MULTILINE)
    flags = {
        name: {flag for param in command.params for flag in param.opts}
        for name, command in cli.commands.items()
    }
    assert {name for name, _ in rows} == set(flags)
    for name, synopsis in rows:
        for flag in re.findall(r"--[\w-]+", synopsis):
            assert flag in flags[name], f"twap {name} has no {flag}"
    s3_flags = re.findall(r"`(--[\w-]+)", ALL_DOCS.split("S3 flags (shorthands")[1][:200])
    assert len(s3_flags) == 4
    for flag in s3_flags:
        assert flag in flags["run"] and flag in flags["load"]


def test_the_limits_quoted_are_the_codes() -> None:
    def seconds(ms: int) -> str:
        return f"{ms // 1000} s" if ms % 1000 == 0 else f"{ms} ms"

    assert f"SQL limited to {seconds(DATASETTE_SETTINGS['sql_time_limit_ms'])}" in ALL_DOCS
    assert f"facets to {seconds(DATASETTE_SETTINGS['facet_time_limit_ms'])}" in ALL_DOCS
    assert f"{DATASETTE_SETTINGS['max_returned_rows']:,} rows" in ALL_DOCS
    assert f"`page_size` 1\N{EN DASH}{MAX_PAGE_SIZE})" in ALL_DOCS


def test_the_readme_is_one_screen_then_links_to_every_file_of_docs() -> None:
    lines = README.splitlines()
    assert len(lines) <= README_LINES, f"README.md has {len(lines)} lines"
    screen = lines[:FIRST_SCREEN]
    for section in FIRST_SCREEN_SECTIONS:
        assert section in screen, f"{section} is not on the README's first screen"
    first_screen = "\n".join(screen)
    for command in ("make demo", "make test"):
        assert re.search(rf"^{command} ", first_screen, re.MULTILINE), command
    linked = {
        (PROJECT_DIR / link).resolve() for link in re.findall(r"\]\(([^)#\s]+)", first_screen)
    }
    for path in DOCS:
        assert path == "README.md" or (PROJECT_DIR / path).resolve() in linked, path
    # The data notes a clone has, not the workspace's (`../shared/DATA.md`).
    assert "docs/DATA.md" in README and "../" not in ALL_DOCS


def test_every_link_and_file_named_in_the_docs_is_in_the_repository() -> None:
    for name, text in DOCS.items():
        here = (PROJECT_DIR / name).parent
        for link in re.findall(r"\]\(([^)\s]+)\)", "".join(split(text)[1])):
            if "://" in link:
                continue
            target, _, anchor = link.partition("#")
            path = (here / target).resolve() if target else PROJECT_DIR / name
            assert path.is_relative_to(PROJECT_DIR), f"{name}: {link} is outside the repository"
            assert path.exists(), f"{name}: {link} does not exist"
            if anchor:
                assert anchor in anchors(path.read_text()), f"{name}: {link} names no heading"
        # Files named in prose (`benchmarks/README.md`) are named from the checkout's root.
        for named in re.findall(r"`([\w./-]+\.md)`", text):
            assert (PROJECT_DIR / named).is_file(), f"{name}: {named}"
