"""Running dbt (twap/build/dbt_runner.py): an analyst's change to an incremental mart's columns
repairs itself on the next hourly run, in a copy of the project with the model really edited."""

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from dlt_pipelines.sample_data import generate
from tests.build.test_models import MARTS, snapshot
from tests.conftest import Twap, make_twap, new_database
from twap.database import Database
from twap.settings import PROJECT_DIR

# What `twap` needs to run from a copy of the project: its packages and the dbt project.
PROJECT_PARTS = (
    "twap",
    "dlt_pipelines",
    "models",
    "dbt_project",
    "dbt_project.yml",
    "profiles.yml.example",
)
NEW_COLUMN = """
      - name: event_count_is_even
        description: Whether the TWAP has an even number of status events (an analyst's flag).
        data_type: boolean
"""


def copy_project(to: Path) -> Path:
    for part in PROJECT_PARTS:
        source = PROJECT_DIR / part
        if source.is_dir():
            shutil.copytree(
                source, to / part, ignore=shutil.ignore_patterns("__pycache__", "target")
            )
        else:
            shutil.copy(source, to / part)
    return to


def in_project(twap: Twap, project: Path) -> Twap:
    """`twap` of the project's copy: its packages first on the path (not the working directory:
    PYTHONSAFEPATH), so its models are built."""
    twap.env.update(PYTHONPATH=str(project), PYTHONSAFEPATH="1")
    return twap


def add_a_column(project: Path, documented: bool = True) -> None:
    """An analyst's edit: a new column of fct_twaps, with its type and description unless not
    `documented`."""
    model = project / "models" / "marts" / "fct_twaps.sql"
    text = model.read_text()
    last = "        event_count\n\n    from remaining\n"  # the end of its `final` select
    assert text.count(last) == 1
    model.write_text(
        text.replace(
            last,
            "        event_count,\n        event_count % 2 = 0 as event_count_is_even\n\n"
            "    from remaining\n",
        )
    )
    if not documented:
        return
    models = project / "models" / "marts" / "_marts__models.yml"
    text = models.read_text()
    anchor = "      - name: event_count\n        description: Number of distinct status events seen for this TWAP.\n        data_type: bigint\n"
    assert text.count(anchor) == 1
    models.write_text(text.replace(anchor, anchor + NEW_COLUMN.lstrip("\n")))


def test_a_column_added_to_an_incremental_mart_is_built_and_published_by_itself(
    twap: Twap, postgres: Database, tmp_path: Path
) -> None:
    sample = tmp_path / "sample"
    generate(sample, days=1, seed=9, twaps_per_day=200)
    hours = sorted(sample.rglob("*.parquet"))
    source = tmp_path / "source"
    source.mkdir()
    for path in hours[:12]:
        shutil.copy(path, source / path.name)
    project = copy_project(tmp_path / "project")
    twap = in_project(twap, project)
    twap("run", "--source", str(source))

    add_a_column(project)
    for path in hours[12:]:
        shutil.copy(path, source / path.name)
    result = twap("run", "--source", str(source))
    assert "the columns of fct_twaps changed: rebuilding it" in result.stderr, result.stderr
    with closing(sqlite3.connect(twap.home / "twap.db")) as served:
        columns = [row[1] for row in served.execute("pragma table_info(fct_twaps)")]
        assert "event_count_is_even" in columns
        assert served.execute(
            "select count(*) from fct_twaps where event_count_is_even <> (event_count % 2 = 0)"
        ).fetchone() == (0,)
    # The next hour builds incrementally again, and the marts equal a fresh pipeline's.
    assert "rebuilding" not in twap("run", "--source", str(source)).stderr
    with new_database(postgres) as database:
        fresh = in_project(make_twap(tmp_path / "fresh", database), project)
        fresh("run", "--source", str(source))
        assert snapshot(twap) == snapshot(fresh)
    assert set(MARTS) <= {
        name
        for (name,) in twap.query(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        )
    }


def test_a_column_missing_from_a_marts_yaml_fails_the_build_naming_the_fix(
    twap: Twap, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    generate(source, days=1, seed=9, twaps_per_day=50)
    project = copy_project(tmp_path / "project")
    add_a_column(project, documented=False)
    result = in_project(twap, project)("run", "--source", str(source), check=False)
    assert result.returncode == 1, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "error: " in line]
    assert "fct_twaps (its SQL and its YAML columns differ: event_count_is_even missing in " in line
    assert "contract; give each column its data_type and description in " in line
    assert "models/marts/_marts__models.yml, or fix models/marts/fct_twaps.sql)" in line
