"""Serve the version `twap publish` points at; pick up a new one without a restart."""

from datasette import hookimpl

from twap.live import live_site


@hookimpl
def startup(datasette):
    async def serve_current_version() -> None:
        site = live_site(datasette)
        if site is not None:
            await site.refresh()

    return serve_current_version


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def check_version_first(scope, receive, send):
            site = live_site(datasette)
            if site is not None and scope["type"] == "http":
                await site.refresh()
            await app(scope, receive, send)

        return check_version_first

    return wrap
