"""ASGI middleware around the whole app: every request gets an id (the client's X-Request-ID when it sends a usable
one, else a new one), which its answer carries back and every log line about it names; and it is counted in the
metrics (in flight while it runs, then by route, status and latency), refusals before routing (a 413) included. A
failure of the server's own is logged here with the id and answered as a JSON 500 that carries it too.

(A pure ASGI middleware, not Starlette's BaseHTTPMiddleware, which costs a task and a stream per request.)"""

import logging
import re
import time
import uuid
from contextvars import ContextVar

from cnnlab.errors import first_line
from cnnlab.serve.limits import send_json
from cnnlab.serve.metrics import UNMATCHED, Metrics

HEADER = b"x-request-id"
USABLE_ID = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")  # what goes into a log line and a header unchanged
request_id: ContextVar[str] = ContextVar("request_id", default="-")
access_log = logging.getLogger("cnnlab.serve.access")
server_log = logging.getLogger("cnnlab.serve")


def failure_message(err: BaseException) -> str:
    """What a 500 says: the server's own failure, in one line."""
    return f"internal error: {type(err).__name__}: {first_line(err)}"


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record (the request being answered, "-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Name the request; keep the record."""
        record.request_id = request_id.get()
        return True


for _logger in (access_log, server_log):  # each record of theirs names its request, whichever handler shows it
    _logger.addFilter(RequestIdFilter())


def incoming_id(scope: dict) -> str:
    """The client's X-Request-ID when it is one a log line can hold as it is, else a new one."""
    for key, value in scope.get("headers", []):
        if key.lower() == HEADER and USABLE_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


def route_of(scope: dict) -> str:
    """The template of the route that took the request (FastAPI leaves it in the scope), or UNMATCHED."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


class Observed:
    """The middleware: request id, metrics, one access log line per request."""

    def __init__(self, app, metrics: Metrics) -> None:  # noqa: ANN001 (an ASGI app)
        """Wrap `app`, counting into `metrics`."""
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 (ASGI)
        """Run the request with its id, count it, log it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope)
        token = request_id.set(rid)
        status = None  # until an answer begins
        start = time.perf_counter()

        async def tagged(message: dict) -> None:
            """Send on, with the id among the answer's headers."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, tagged)
        except Exception as err:  # a bug of the server's own: logged with the id, a JSON 500 when none began
            server_log.error("%s %s: %s", scope["method"], scope["path"], failure_message(err), exc_info=err)
            if status is not None:
                raise
            await send_json(tagged, 500, {"error": failure_message(err)})
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - start
            route = route_of(scope)
            self.metrics.answered(route, scope["method"], status or 500, seconds)
            access_log.info("%s %s %s %.1fms", scope["method"], scope["path"], status or 500, seconds * 1000)
            request_id.reset(token)
