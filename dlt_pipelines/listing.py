"""Listing the source: open its filesystem, list its objects once, and select those to read."""

import dataclasses
import logging
import os
import posixpath
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dlt.common.storages.fsspec_filesystem import fsspec_filesystem
from dlt.sources.credentials import FileSystemCredentials
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from dlt_pipelines.ledger.rules import (
    CHANGED,
    KEEP,
    NEW,
    RETRIED,
    KnownObject,
    decision,
    reappeared,
    vanished,
)
from dlt_pipelines.readers.formats import not_data_reason
from dlt_pipelines.settings import S3_CONNECT_TIMEOUT, S3_MAX_ATTEMPTS, S3_READ_TIMEOUT

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceObject:
    """One listed object: its URL (`key`) and what identifies its content (`version`)."""

    key: str
    path: str
    version: str
    size_bytes: int | None
    modified_at: datetime | None


@dataclass
class Listing:
    objects: list[SourceObject]
    skipped: Counter[str] = dataclasses.field(
        default_factory=Counter
    )  # why a file is not data -> files


def list_objects(fs: AbstractFileSystem, bucket_url: str, file_glob: str) -> Listing:
    """List the files under `bucket_url` matching `file_glob` with one listing, sorted by key,
    leaving out files that are not data (dot-files, sync temporaries, markers, checksums).

    Raises FileNotFoundError when `bucket_url` itself does not exist.
    """
    root = fs._strip_protocol(bucket_url).rstrip("/")
    if not fs.exists(root):
        raise FileNotFoundError(root)
    found = fs.glob(posixpath.join(root, file_glob), detail=True)
    listing = Listing([])
    for path, info in found.items():
        if info["type"] != "file":
            continue
        why = not_data_reason(path[len(root) + 1 :] if path.startswith(root) else path)
        if why is None:
            listing.objects.append(_source_object(fs, path, info))
        else:
            listing.skipped[why] += 1
    listing.objects.sort(key=lambda obj: obj.key)
    return listing


def _source_object(fs: AbstractFileSystem, path: str, info: dict) -> SourceObject:
    modified = info.get("LastModified") or info.get("mtime")
    if isinstance(modified, int | float):
        modified = datetime.fromtimestamp(modified, UTC)
    etag = info.get("ETag") or info.get("etag")
    if isinstance(fs, LocalFileSystem):
        version = local_version(path)
    elif etag:
        version = etag.strip('"')
    else:
        version = f"{info.get('size')}:{modified and modified.isoformat()}"
    return SourceObject(
        # The full URL: two sources with the same layout never share keys.
        key=fs.unstrip_protocol(path),
        path=path,
        version=version,
        size_bytes=info.get("size"),
        modified_at=modified,
    )


def local_version(path: str) -> str:
    """A local file's version: size, mtime and ctime in nanoseconds, and inode. Any rewrite
    changes the ctime (and a replacement the inode), even when `cp -p`, `tar x` or `rsync -t`
    put back the size and the whole-second mtime."""
    stat = os.stat(path)
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}"


@dataclass(frozen=True)
class Selection:
    """One listing and what to do with it: the objects to read (each with why), the files left
    out as not data, and the known objects that came or went."""

    fs: AbstractFileSystem  # what the objects are read from (as dlt's FileItemDict carries it)
    objects: list[SourceObject]
    why: dict[str, str]  # object key -> NEW, CHANGED or RETRIED
    listed: int
    skipped: dict[str, int]
    vanished: list[str]
    reappeared: list[str]
    on_vanished: str = KEEP

    def count(self, why: str) -> int:
        return sum(reason == why for reason in self.why.values())

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"
        return (
            f"{self.listed} objects: {self.count(NEW)} new, {self.count(CHANGED)} changed, "
            f"{self.count(RETRIED)} failed before, {len(self.vanished)} vanished; skipped {skipped}"
        )


def select(
    fs: AbstractFileSystem,
    listing: Listing,
    known: Mapping[str, KnownObject],
    on_vanished: str = KEEP,
) -> Selection:
    """The listed objects to read (new, changed, failed before, or listed again after they
    vanished with their rows removed) and the known ones missing from the listing."""
    why = {}
    for obj in listing.objects:
        reason = decision(known.get(obj.key), obj.version)
        if reason is not None:
            why[obj.key] = reason
    keys = [obj.key for obj in listing.objects]
    return Selection(
        fs,
        [obj for obj in listing.objects if obj.key in why],
        why,
        len(listing.objects),
        dict(listing.skipped),
        vanished(known, set(keys), on_vanished),
        reappeared(known, keys),
        on_vanished,
    )


def open_filesystem(
    bucket_url: str,
    credentials: FileSystemCredentials | AbstractFileSystem,
    *,
    requester_pays: bool = False,
    anonymous: bool = False,
    max_attempts: int = S3_MAX_ATTEMPTS,
    connect_timeout: float = S3_CONNECT_TIMEOUT,
    read_timeout: float = S3_READ_TIMEOUT,
    kwargs: dict[str, Any] | None = None,
    client_kwargs: dict[str, Any] | None = None,
) -> AbstractFileSystem:
    """The fsspec filesystem of `bucket_url` with our S3 settings (no request is made yet);
    `credentials` itself when it is a filesystem already."""
    if isinstance(credentials, AbstractFileSystem):
        return credentials
    s3 = bucket_url.startswith(("s3://", "s3a://"))
    s3_kwargs, s3_config = s3_options(
        requester_pays, anonymous, max_attempts, connect_timeout, read_timeout
    )
    fs, _ = fsspec_filesystem(
        bucket_url,
        credentials,
        kwargs={**(s3_kwargs if s3 else {}), **(kwargs or {})},
        client_kwargs=client_kwargs,
        config_kwargs=s3_config if s3 else None,
    )
    return fs


def s3_options(
    requester_pays: bool,
    anonymous: bool,
    max_attempts: int,
    connect_timeout: float,
    read_timeout: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """s3fs keyword arguments and botocore client config for our S3 settings."""
    # One GET per object: s3fs would otherwise HEAD each object to split it into ranges.
    kwargs: dict[str, Any] = {"requester_pays": requester_pays, "max_concurrency": 1}
    if anonymous:
        kwargs["anon"] = True
    config = {
        # Adaptive mode backs off on throttling (503 SlowDown) and rate-limits the client.
        "retries": {"mode": "adaptive", "max_attempts": max_attempts},
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
    }
    return kwargs, config
