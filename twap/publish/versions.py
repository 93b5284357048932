"""Published versions on disk: each publish writes a new version directory, then one symlink
(the publish path, e.g. `.twap/twap.db`) is switched to it atomically.

    .twap/twap.db -> twap.db.versions/20261124T091600.123456Z/twap.db
    .twap/twap.db.versions/<version>/twap.db            the SQLite file, never modified again
    .twap/twap.db.versions/<version>/metadata.json      Datasette metadata (generated + hand-written)
    .twap/twap.db.versions/<version>/publication.json   what /-/healthz reports and row counts

Who uses a version says so with a lock on its directory (flock, released by the kernel when
the process dies): a publish writing it holds it exclusively until the switch, and `twap serve`
holds it shared while any request reads it (twap/site/versions.py). A version nobody holds is
free: neither served nor being written. The newest free one older than the current one is kept
for the next publish to take over (it updates that file instead of copying a whole one,
twap/publish/tables.py); every other free one, a killed publish's leftovers included, is removed.
"""

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

METADATA_FILE = "metadata.json"
PUBLICATION_FILE = "publication.json"
# The directory locks of the versions this process is writing, by directory.
_writing: dict[Path, int] = {}


@dataclass(frozen=True)
class Version:
    """One published version: its directory and its SQLite file."""

    directory: Path
    database: Path

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def metadata_path(self) -> Path:
        return self.directory / METADATA_FILE

    def read_metadata(self) -> dict[str, Any]:
        return json.loads(self.metadata_path.read_text())

    def read_publication(self) -> dict[str, Any]:
        return json.loads((self.directory / PUBLICATION_FILE).read_text())

    @property
    def complete(self) -> bool:
        return (self.directory / PUBLICATION_FILE).exists() and self.database.exists()

    def write_json(self, metadata: dict[str, Any], publication: dict[str, Any]) -> None:
        self.metadata_path.write_text(json.dumps(metadata, indent=2))
        (self.directory / PUBLICATION_FILE).write_text(json.dumps(publication, indent=2))

    def hold(self) -> int | None:
        """A shared lock on this version for a reader (its descriptor; close it to let go), or
        None if the version is gone or being removed."""
        fd = lock(self.directory, fcntl.LOCK_SH)
        if fd is not None and not self.complete:  # removed between the open and the lock
            os.close(fd)
            return None
        return fd


def lock(directory: Path, kind: int) -> int | None:
    """`directory` locked (flock `kind`, without waiting): its descriptor, or None if another
    process holds it the other way, or it is gone."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def unused(directory: Path) -> Iterator[bool]:
    """Whether no process reads or writes `directory`; while True, none can start to."""
    fd = lock(directory, fcntl.LOCK_EX)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


def kept(complete: list[str], current: str | None) -> set[str]:
    """Of the complete versions' names (oldest first), those a clean keeps even when free: the
    current one and the newest older one (the next publish takes its file over)."""
    if current is None:
        return set()
    older = [name for name in complete if name < current]
    return {current, *older[-1:]}


@dataclass(frozen=True)
class Publication:
    """The versions behind one publish path (the symlink Datasette and people open)."""

    pointer: Path

    @property
    def versions_dir(self) -> Path:
        return self.pointer.with_name(f"{self.pointer.name}.versions")

    def current(self) -> Version | None:
        """The version the pointer names now, or None if nothing was published."""
        if not self.pointer.is_symlink():
            return None
        database = Path(os.path.realpath(self.pointer))
        return Version(database.parent, database) if database.exists() else None

    def new_version(self) -> Version:
        """An empty directory for the next version, named by its UTC time (sorts by age), held
        by this process until it is switched to or discarded."""
        name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        directory = self.versions_dir / name
        directory.mkdir(parents=True)
        fd = lock(directory, fcntl.LOCK_EX)
        if fd is None:  # only this process knows the directory yet
            raise RuntimeError(f"cannot lock the new version {directory}")
        _writing[directory] = fd
        return Version(directory, directory / self.pointer.name)

    def switch(self, version: Version) -> None:
        """Point at `version` in one rename: readers see the old version or the new one."""
        staging = self.pointer.with_name(f".{self.pointer.name}.{os.getpid()}.link")
        staging.unlink(missing_ok=True)
        staging.symlink_to(version.database.relative_to(self.pointer.parent))
        os.replace(staging, self.pointer)
        self._let_go(version)

    def _let_go(self, version: Version) -> None:
        fd = _writing.pop(version.directory, None)
        if fd is not None:
            os.close(fd)

    def versions(self) -> list[Version]:
        """The complete versions on disk, oldest first."""
        return [version for version in self._directories() if version.complete]

    def _directories(self) -> list[Version]:
        if not self.versions_dir.exists():
            return []
        return [
            Version(directory, directory / self.pointer.name)
            for directory in sorted(self.versions_dir.iterdir())
            if directory.is_dir()
        ]

    def reusable(self) -> list[Version]:
        """Versions whose file the next one may take over, newest first: complete, older than
        the current one, and held by nobody."""
        current = self.current()
        if current is None:
            return []
        found = []
        for version in self.versions():
            if version.name >= current.name:
                continue
            with unused(version.directory) as free:
                if free:
                    found.append(version)
        return found[::-1]

    def take_over(self, old: Version, new: Version) -> None:
        """Move the file of `old` (a reusable version) into `new`, `old` then gone; if a reader
        took `old` since, its file is copied instead and stays for the reader."""
        with unused(old.directory) as free:
            if free:
                os.replace(old.database, new.database)
                shutil.rmtree(old.directory, ignore_errors=True)
                return
        shutil.copyfile(old.database, new.database)

    def clean(self) -> list[str]:
        """Remove the versions nobody holds but the current one and the newest older complete
        one (the next publish takes it over): replaced versions no request reads any more, and
        what a killed publish left. Returns their names."""
        current = self.current()
        keep = kept([v.name for v in self.versions()], current.name if current else None)
        removed = []
        for version in self._directories():
            if version.name in keep or version.directory in _writing:
                continue
            with unused(version.directory) as free:
                if free:
                    shutil.rmtree(version.directory, ignore_errors=True)
                    removed.append(version.name)
        return removed

    def discard(self, version: Version) -> None:
        """Remove a version that was never switched to (a failed publish)."""
        shutil.rmtree(version.directory, ignore_errors=True)
        self._let_go(version)
