"""Listing a real local folder and deciding what to read (no pipeline run): new, changed, failed
before and vanished objects, and files that are not data."""

import os
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from dlt_pipelines.ledger.rules import (
    CHANGED,
    FAILED,
    KEEP,
    LOADED,
    MIRROR,
    NEW,
    RETRIED,
    KnownObject,
)
from dlt_pipelines.listing import Listing, list_objects, select

FS = LocalFileSystem()


def write(root: Path, relative: str, data: bytes = b"PAR1") -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def listing(root: Path) -> Listing:
    return list_objects(FS, str(root), "**")


def test_one_listing_leaves_out_files_that_are_not_data(tmp_path: Path) -> None:
    for name in ("2026/07/20/00.parquet", "2026/07/20/01.parquet", "2026/07/20/02.jsonl"):
        write(tmp_path, name)
    for name in (".DS_Store", "2026/_SUCCESS", "2026/07/20/03.parquet.tmp", ".sync/state"):
        write(tmp_path, name)
    found = listing(tmp_path)
    assert [Path(obj.path).name for obj in found.objects] == [
        "00.parquet",
        "01.parquet",
        "02.jsonl",
    ]
    assert all(obj.key.startswith("file://") and obj.version for obj in found.objects)
    assert sum(found.skipped.values()) == 4
    assert found.skipped["job marker"] == 1


def test_documentation_beside_the_data_is_skipped_and_counted(tmp_path: Path) -> None:
    write(tmp_path, "2026/07/20/00.parquet")
    docs = ("notes.txt", "README.md", "README", "2026/index.html", "spec.PDF", "guide.rst")
    for name in docs:
        write(tmp_path, name, b"a,b\n1,2\n")  # reads as a CSV: skipped by name, not content
    found = listing(tmp_path)
    assert [Path(obj.path).name for obj in found.objects] == ["00.parquet"]
    assert found.skipped == {"documentation": len(docs)}


def test_a_folder_that_does_not_exist_is_not_an_empty_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        listing(tmp_path / "missing")


def test_what_is_read_by_what_the_ledger_holds(tmp_path: Path) -> None:
    for name in ("same", "changed", "failed", "new", "back"):
        write(tmp_path, f"{name}.parquet")
    objects = {Path(obj.path).stem: obj for obj in listing(tmp_path).objects}
    version = {name: obj.version for name, obj in objects.items()}
    known = {
        objects["same"].key: KnownObject(version["same"], LOADED, True, False),
        objects["changed"].key: KnownObject("older", LOADED, True, False),
        objects["failed"].key: KnownObject(version["failed"], FAILED, False, False),
        objects["back"].key: KnownObject(version["back"], LOADED, True, True),
        "file:///elsewhere/gone.parquet": KnownObject("v1", LOADED, True, False),
    }
    selection = select(FS, listing(tmp_path), known, KEEP)
    why = {Path(key).stem: reason for key, reason in selection.why.items()}
    assert why == {"changed": CHANGED, "failed": RETRIED, "new": NEW}
    assert [Path(obj.path).stem for obj in selection.objects] == ["changed", "failed", "new"]
    assert selection.listed == 5
    assert selection.vanished == ["file:///elsewhere/gone.parquet"]
    assert selection.reappeared == [objects["back"].key]
    assert selection.summary() == (
        "5 objects: 1 new, 1 changed, 1 failed before, 1 vanished; skipped none"
    )
    # Mirroring: the rows of an object missing before stop counting too.
    known["file:///elsewhere/old.parquet"] = KnownObject("v1", LOADED, True, True)
    mirrored = select(FS, listing(tmp_path), known, MIRROR)
    assert mirrored.vanished == ["file:///elsewhere/gone.parquet", "file:///elsewhere/old.parquet"]


def test_a_local_rewrite_with_the_same_size_and_mtime_is_a_new_version(tmp_path: Path) -> None:
    write(tmp_path, "00.parquet", b"PAR1 first")
    path = tmp_path / "00.parquet"
    before = path.stat()
    (old,) = listing(tmp_path).objects
    # What `cp -p`, `tar x` or `rsync -t` leave: other bytes of the same size, the old mtime.
    path.write_bytes(b"PAR1 fixed")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    (new,) = listing(tmp_path).objects
    assert new.version != old.version
    known = {old.key: KnownObject(old.version, LOADED, True, False)}
    assert select(FS, listing(tmp_path), known).why == {new.key: CHANGED}
    # Listing again without a change reads nothing.
    assert (
        select(FS, listing(tmp_path), {new.key: KnownObject(new.version, LOADED, True, False)}).why
        == {}
    )
