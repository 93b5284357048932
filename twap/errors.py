"""Errors a person can act on, and the exit statuses the command documents."""

EXIT_ERROR = 1
# Some objects failed to load; everything else was loaded, built and published.
EXIT_OBJECTS_FAILED = 3


class TwapError(Exception):
    """Printed as one line without a traceback (unless --debug); exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """A message (or an exception's) folded onto one line (its type name when it has none)."""
    return " ".join(str(exc).split())[:limit] or type(exc).__name__
