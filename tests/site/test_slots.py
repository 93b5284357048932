"""Slots for expensive requests (twap/site/slots.py) shared by processes through lock files:
two holders of one site's slots take turns; a slot closes with its descriptor."""

import asyncio
from pathlib import Path

import pytest

from twap.site.slots import Slots


def test_one_site_has_as_many_holders_as_slots(tmp_path: Path) -> None:
    site = tmp_path / "twap.db"
    # Two workers' views of the same site's single slot.
    first, second = Slots(site, 1), Slots(site, 1)
    assert first.paths == second.paths
    other_site = Slots(tmp_path / "other.db", 1)

    async def scenario() -> None:
        held = await first.acquire()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await second.acquire()
        Slots.release(await other_site.acquire())  # another site's slots are its own
        Slots.release(held)
        async with asyncio.timeout(1):
            Slots.release(await second.acquire())

    asyncio.run(scenario())
