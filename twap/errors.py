"""Errors a person can act on, and the exit statuses the command documents."""

from dlt_pipelines.errors import one_line

__all__ = ["EXIT_ERROR", "EXIT_LOCKED", "EXIT_OBJECTS_FAILED", "TwapError", "one_line"]

EXIT_ERROR = 1
# Some objects failed to load; everything else was loaded, built and published.
EXIT_OBJECTS_FAILED = 3
# Another run holds the database's run lock; nothing was done.
EXIT_LOCKED = 4


class TwapError(Exception):
    """Printed as one line without a traceback (unless --debug); exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code
