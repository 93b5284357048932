"""Published versions on disk (twap/publish/versions.py): the switch, which old version's file
the next one may take over, and which versions are cleaned. Files only: no pipeline runs."""

import os
import time
from pathlib import Path

from twap.publish.versions import (
    KEEP_SECONDS,
    KEEP_VERSIONS,
    RETIRED_FILE,
    REUSE_AFTER_SECONDS,
    Publication,
    Version,
)


def published(publication: Publication, text: str) -> Version:
    """A complete version holding `text`, switched to."""
    version = publication.new_version()
    version.database.write_text(text)
    version.write_json({"title": text}, {"version": version.name})
    publication.switch(version)
    return version


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_switch_points_at_the_new_version_and_retires_the_old(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    assert publication.current() is None and publication.versions() == []

    first = published(publication, "one")
    second = published(publication, "two")

    assert publication.current() == second
    assert publication.pointer.read_text() == "two"
    assert not publication.pointer.readlink().is_absolute()  # the home may move
    assert (first.directory / RETIRED_FILE).exists()
    assert not (second.directory / RETIRED_FILE).exists()
    assert publication.versions() == [first, second]
    assert second.read_metadata() == {"title": "two"}


def test_only_a_version_replaced_long_enough_ago_is_reused(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    old, recent, current = (published(publication, n) for n in ("old", "recent", "current"))
    age(old.directory / RETIRED_FILE, REUSE_AFTER_SECONDS + 5)
    age(recent.directory / RETIRED_FILE, REUSE_AFTER_SECONDS - 30)

    assert publication.reusable() == [old]  # never the current one, nor one just replaced
    age(recent.directory / RETIRED_FILE, REUSE_AFTER_SECONDS + 1)
    assert publication.reusable() == [recent, old]  # newest first: the fewest changes to apply

    new = publication.new_version()
    publication.take_over(recent, new)
    assert new.database.read_text() == "recent" and not recent.directory.exists()
    assert current.database.read_text() == "current"


def test_a_version_without_a_mark_counts_as_replaced_when_the_next_was_made(
    tmp_path: Path,
) -> None:
    publication = Publication(tmp_path / "twap.db")
    unmarked, following, _ = (published(publication, n) for n in ("a", "b", "c"))
    (unmarked.directory / RETIRED_FILE).unlink()
    age(following.directory / RETIRED_FILE, 0)

    age(following.directory, REUSE_AFTER_SECONDS - 30)
    assert unmarked not in publication.reusable()
    age(following.directory, REUSE_AFTER_SECONDS + 5)
    assert unmarked in publication.reusable()


def test_cleaning_keeps_the_newest_the_recent_and_the_current(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    versions = [published(publication, str(n)) for n in range(KEEP_VERSIONS + 3)]
    for version in versions[:-1]:
        age(version.directory, KEEP_SECONDS + 5)
    age(versions[1].directory, KEEP_SECONDS - 60)  # made recently: a reader may still use it

    removed = publication.clean()

    kept = {version.name for version in versions} - set(removed)
    assert removed == [versions[0].name, versions[2].name]
    assert kept == {versions[1].name, *(v.name for v in versions[-KEEP_VERSIONS:])}
    assert publication.current() == versions[-1]


def test_a_failed_publish_leaves_nothing_behind(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    served = published(publication, "served")
    failed = publication.new_version()
    failed.database.write_text("half")

    assert publication.versions() == [served]  # incomplete: no publication.json
    publication.discard(failed)
    assert not failed.directory.exists() and publication.current() == served
