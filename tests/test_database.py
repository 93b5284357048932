"""A real server through TWAP_DATABASE_URL: URLs, passwords full of URL syntax, libpq options."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dlt_pipelines.sample_data import generate
from tests.conftest import Twap
from twap.database import Database
from twap.errors import TwapError

PASSWORD = "p@ss:w/rd%"


@pytest.fixture
def password_database(postgres: Database, database: Database) -> Iterator[Database]:
    """A role that must log in with a password full of URL syntax (scram, not trust)."""
    role = f"{database.dbname}_owner"
    admin = postgres.connect()
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"create role {role} login password %s", (PASSWORD,))
        cursor.execute(f"alter database {database.dbname} owner to {role}")
        cursor.execute(f"grant create on database {database.dbname} to {role}")
        cursor.execute("show hba_file")
        hba = Path(cursor.fetchone()[0])
        original = hba.read_text()
        hba.write_text(f"local all {role} scram-sha-256\n{original}")
        cursor.execute("select pg_reload_conf()")
    yield replace(database, user=role, password=PASSWORD)
    hba.write_text(original)
    with admin.cursor() as cursor:
        cursor.execute("select pg_reload_conf()")
        cursor.execute(f"alter database {database.dbname} owner to {postgres.user}")
        cursor.execute(f"drop owned by {role} cascade")
    admin.close()


def test_password_with_url_syntax_works_for_dlt_dbt_and_export(
    password_database: Database, twap: Twap, tmp_path: Path
) -> None:
    with pytest.raises(TwapError, match="password authentication failed"):
        replace(password_database, password="wrong").connect()
    assert "p%40ss%3Aw%2Frd%25" in password_database.url
    twap.env["TWAP_DATABASE_URL"] = password_database.url
    generate(tmp_path / "sample", days=1, seed=2, twaps_per_day=200)

    twap("run", "--source", str(tmp_path / "sample"))

    with password_database.connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "select count(*), string_agg(distinct tableowner, ',') from pg_tables where schemaname = 'marts'"
        )
        marts = len(list(Path("models/marts").glob("*.sql")))
        assert cursor.fetchone() == (marts, password_database.user)
    assert (twap.home / "twap.db").stat().st_size > 0


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p%40ss%3Aw%2Frd%25@db.example:6543/my%20db?sslmode=verify-full",
        "postgresql://postgres:@localhost:5432/postgres?host=%2Ftmp%2Fpg%20data",
        "postgres://u@/d?host=/run/pg&port=5433",
    ],
)
def test_database_urls_round_trip(url: str) -> None:
    database = Database.from_url(url)
    assert Database.from_url(database.url) == database


def test_database_url_parts_are_decoded() -> None:
    database = Database.from_url(
        "postgresql://u:p%40ss%3Aw%2Frd%25@db.example:6543/my%20db?sslmode=verify-full"
    )
    assert (database.user, database.password, database.dbname) == ("u", PASSWORD, "my db")
    assert database.libpq_env()["PGSSLMODE"] == "verify-full"
    assert PASSWORD not in database.display


def test_database_url_must_be_postgresql() -> None:
    with pytest.raises(TwapError, match="must start with postgresql://"):
        Database.from_url("mysql://u@h/d")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:s3cr3t@h:abc/d", "database URL has an invalid port: 'abc'"),
        ("postgresql://u:s3cr3t@h/d?colour=blue", 'invalid URI query parameter: "colour"'),
        ("postgresql://u:s3cr3t%zz@h/d", "database URL is not a libpq URL: "),
    ],
)
def test_a_bad_database_url_is_one_line_without_its_password(url: str, expected: str) -> None:
    with pytest.raises(TwapError) as raised:
        Database.from_url(url)
    message = str(raised.value)
    assert expected in message and "\n" not in message
    assert "s3cr3t" not in message


def test_a_database_url_fills_in_libpqs_defaults() -> None:
    database = Database.from_url("postgresql://db.example")
    assert (database.host, database.port, database.user, database.dbname) == (
        "db.example",
        5432,
        "postgres",
        "postgres",
    )
    socket = Database.from_url("postgresql:///twap?host=/run/postgresql")
    assert (socket.host, socket.dbname) == ("/run/postgresql", "twap")
    assert socket.url == "postgresql://postgres:@localhost:5432/twap?host=%2Frun%2Fpostgresql"
    assert socket.libpq_env()["PGHOST"] == "/run/postgresql"
