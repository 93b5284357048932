"""Errors a person can act on, and the exit statuses the command documents."""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
# Some objects failed to load; everything else was loaded, built and published.
EXIT_OBJECTS_FAILED = 3


class TwapError(Exception):
    """Printed as one line without a traceback (unless --debug); exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code
