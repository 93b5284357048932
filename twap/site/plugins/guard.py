"""Every request metered (twap/site/metrics.py) and bounded (twap/site/guard.py), through
Datasette's `asgi_wrapper` hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from datasette import hookimpl

from twap.site.guard import guarded
from twap.site.metrics import Metered

if TYPE_CHECKING:
    from datasette.app import Datasette


@hookimpl
def asgi_wrapper(datasette: Datasette) -> Callable[[Any], Any]:
    # Metered outside the guard: its refusals and replayed answers are counted and timed too.
    return lambda app: Metered(guarded(app, datasette), datasette)
