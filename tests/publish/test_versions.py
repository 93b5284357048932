"""Published versions on disk (twap/publish/versions.py): the switch, which old version's file
the next one may take over, and which versions are cleaned: never one a process holds (a
reader's shared lock, a publish's own), always a killed publish's leftovers. Files only."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from twap.publish.versions import Publication, Version, kept


def published(publication: Publication, text: str) -> Version:
    """A complete version holding `text`, switched to."""
    version = publication.new_version()
    version.database.write_text(text)
    version.write_json({"title": text}, {"version": version.name})
    publication.switch(version)
    return version


def test_a_switch_points_at_the_new_version(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    assert publication.current() is None and publication.versions() == []

    first = published(publication, "one")
    second = published(publication, "two")

    assert publication.current() == second
    assert publication.pointer.read_text() == "two"
    assert not publication.pointer.readlink().is_absolute()  # the home may move
    assert publication.versions() == [first, second]
    assert second.read_metadata() == {"title": "two"}


def test_only_a_version_nobody_holds_is_reused(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    old, recent, current = (published(publication, n) for n in ("old", "recent", "current"))
    reader = recent.hold()
    assert reader is not None

    assert publication.reusable() == [old]  # never the current one, nor one a reader holds
    os.close(reader)
    assert publication.reusable() == [recent, old]  # newest first: the fewest changes to apply

    new = publication.new_version()
    publication.take_over(recent, new)
    assert new.database.read_text() == "recent" and not recent.directory.exists()
    assert current.database.read_text() == "current"


def test_a_version_a_reader_took_meanwhile_is_copied_not_taken(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    old, _ = (published(publication, n) for n in ("old", "current"))
    assert publication.reusable() == [old]
    reader = old.hold()

    new = publication.new_version()
    publication.take_over(old, new)

    assert new.database.read_text() == "old" and old.database.read_text() == "old"
    assert reader is not None
    os.close(reader)


def test_cleaning_keeps_the_current_the_newest_older_and_the_held(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    versions = [published(publication, str(n)) for n in range(5)]
    reader = versions[1].hold()

    removed = publication.clean()

    assert removed == [versions[0].name, versions[2].name]
    assert publication.versions() == [versions[1], versions[3], versions[4]]
    assert reader is not None
    os.close(reader)
    assert publication.clean() == [versions[1].name]  # its reader is gone
    assert publication.current() == versions[-1]


def test_a_clean_keeps_the_current_and_the_newest_older_version() -> None:
    assert kept(["a", "b", "c", "d"], "d") == {"c", "d"}
    assert kept(["a", "b", "c", "d"], "b") == {"a", "b"}  # a newer one is a publish's leftover
    assert kept(["a"], "a") == {"a"}
    assert kept(["a", "b"], None) == set()  # nothing published: nothing to keep


def test_a_failed_publish_leaves_nothing_behind(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    served = published(publication, "served")
    failed = publication.new_version()
    failed.database.write_text("half")

    assert publication.versions() == [served]  # incomplete: no publication.json
    assert publication.clean() == []  # being written by this process: not a leftover
    publication.discard(failed)
    assert not failed.directory.exists() and publication.current() == served


# A publish paused half-way through writing its version, until it is killed.
HALF_WRITTEN = """
import sys
from pathlib import Path
from twap.publish.versions import Publication

version = Publication(Path(sys.argv[1])).new_version()
version.database.write_text("half")
print(version.directory, flush=True)
sys.stdin.read()  # the pause point: the test kills this process here
"""


def test_the_next_publish_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    publication = Publication(tmp_path / "twap.db")
    served = published(publication, "served")
    writer = subprocess.Popen(
        [sys.executable, "-c", HALF_WRITTEN, str(publication.pointer)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    half = Path(writer.stdout.readline().strip())
    assert half.parent == publication.versions_dir

    assert publication.clean() == []  # a publish still writing it: left alone
    assert half.exists()
    writer.send_signal(signal.SIGKILL)
    writer.wait()

    following = published(publication, "following")
    assert publication.clean() == [half.name]
    assert not half.exists()
    assert publication.current() == following and publication.versions() == [served, following]
