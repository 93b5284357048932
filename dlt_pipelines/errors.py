"""The error of one object that cannot be read, and one-line messages."""


class BadObjectError(ValueError):
    """The object cannot be read as TWAP status events; the message says why in one line."""


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """A message (or an exception's) folded onto one line (its type name when it has none)."""
    return " ".join(str(exc).split())[:limit] or type(exc).__name__
