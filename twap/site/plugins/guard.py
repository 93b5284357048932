"""Every request metered and bounded, through Datasette's `asgi_wrapper` hook.

The metering is twap/site/metrics.py, the bounds twap/site/guard.py.
"""

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
