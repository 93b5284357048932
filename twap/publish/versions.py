"""Published versions on disk: each publish writes a new version directory, then one symlink
(the publish path, e.g. `.twap/twap.db`) is switched to it atomically.

    .twap/twap.db -> twap.db.versions/20261124T091600.123456Z/twap.db
    .twap/twap.db.versions/<version>/twap.db            the SQLite file, never modified again
    .twap/twap.db.versions/<version>/metadata.json      Datasette metadata (generated + hand-written)
    .twap/twap.db.versions/<version>/publication.json   what /-/healthz reports and row counts
    .twap/twap.db.versions/<version>/retired            when the pointer moved off it (its mtime)

A reader resolves the symlink once and keeps the version it got, so it sees one version whole.
A version no reader can use any more (replaced long enough ago) may hand its file over to the
next version, which updates it instead of copying or rewriting a whole file
(twap/publish/tables.py).
"""

import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

METADATA_FILE = "metadata.json"
PUBLICATION_FILE = "publication.json"
RETIRED_FILE = "retired"
# Old versions stay for requests still reading them: the newest few, and any made recently.
KEEP_VERSIONS = 3
KEEP_SECONDS = 600
# Twice as long as `twap serve` keeps a replaced version open (twap/site/versions.py): no request reads
# a version replaced that long ago, so its file may be handed over and changed.
REUSE_AFTER_SECONDS = 180


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
        """An empty directory for the next version, named by its UTC time (sorts by age)."""
        name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        directory = self.versions_dir / name
        directory.mkdir(parents=True)
        return Version(directory, directory / self.pointer.name)

    def switch(self, version: Version) -> None:
        """Point at `version` in one rename: readers see the old version or the new one."""
        old = self.current()
        staging = self.pointer.with_name(f".{self.pointer.name}.{os.getpid()}.link")
        staging.unlink(missing_ok=True)
        staging.symlink_to(version.database.relative_to(self.pointer.parent))
        os.replace(staging, self.pointer)
        if old is not None:
            (old.directory / RETIRED_FILE).touch()

    def versions(self) -> list[Version]:
        """The complete versions on disk, oldest first."""
        if not self.versions_dir.exists():
            return []
        found = (
            Version(directory, directory / self.pointer.name)
            for directory in sorted(self.versions_dir.iterdir())
        )
        return [version for version in found if version.complete]

    def reusable(self) -> list[Version]:
        """Versions whose file the next one may take over, newest first: not the current one,
        and replaced more than REUSE_AFTER_SECONDS ago (a version without a `retired` mark,
        from before marks or never switched to, counts as replaced when the next was made)."""
        current = self.current()
        versions = self.versions()
        found = []
        for version, following in pairwise(versions):
            if current is not None and version.directory == current.directory:
                continue
            mark = version.directory / RETIRED_FILE
            replaced_at = (mark if mark.exists() else following.directory).stat().st_mtime
            if time.time() - replaced_at > REUSE_AFTER_SECONDS:
                found.append(version)
        return found[::-1]

    def take_over(self, old: Version, new: Version) -> None:
        """Move the file of `old` (a reusable version) into `new`; `old` is gone."""
        os.replace(old.database, new.database)
        shutil.rmtree(old.directory, ignore_errors=True)

    def clean(self) -> list[str]:
        """Remove old versions no reader should still use; returns their names."""
        current = self.current()
        versions = sorted(self.versions_dir.iterdir()) if self.versions_dir.exists() else []
        removed = []
        for directory in versions[:-KEEP_VERSIONS]:
            recent = time.time() - directory.stat().st_mtime < KEEP_SECONDS
            if recent or (current is not None and directory == current.directory):
                continue
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory.name)
        return removed

    def discard(self, version: Version) -> None:
        """Remove a version that was never switched to (a failed publish)."""
        shutil.rmtree(version.directory, ignore_errors=True)
