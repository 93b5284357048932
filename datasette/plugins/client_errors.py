"""A bad request (huge _size, bad SQL, a query over the time limit) is answered quietly.

Datasette's default handler prints a rich traceback with all locals for every exception, 400s
included: ~250 ms and pages of log for what is the caller's mistake. Without rich it answers
the same, and still prints tracebacks of server errors (500) with the standard library.
"""

import datasette.handle_exception as default_handler

default_handler.rich = None
