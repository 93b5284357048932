"""Slots for expensive requests shared by every worker process of one site on this machine.

A few lock files, each held (flock) by the request using it: expensive requests then use at
most half the cores together, whatever the number of workers. Neither Datasette (its SQL
threads are per process) nor gunicorn admits requests across workers, and a lock, unlike a
shared semaphore, is freed when gunicorn kills the worker holding it."""

import asyncio
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

POLL_SECONDS = 0.05


def machine_slots() -> int:
    return max(1, len(os.sched_getaffinity(0)) // 2)


class Slots:
    """`count` slots named after `site` (the publish path): the same for every worker."""

    def __init__(self, site: Path, count: int) -> None:
        digest = hashlib.sha1(str(site.resolve(strict=False)).encode()).hexdigest()[:12]
        self.paths = [
            Path(tempfile.gettempdir()) / f"twap-{digest}-slot{n}.lock" for n in range(count)
        ]

    def _try(self) -> int | None:
        for path in self.paths:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
        return None

    async def acquire(self) -> int:
        """A held slot (its file descriptor), once one is free; cancel to give up waiting."""
        while (fd := self._try()) is None:
            await asyncio.sleep(POLL_SECONDS)
        return fd

    @staticmethod
    def release(fd: int) -> None:
        os.close(fd)  # closing the descriptor releases its lock
