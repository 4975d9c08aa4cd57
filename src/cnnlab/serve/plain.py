"""The common prediction request, answered without FastAPI's parameter machinery: a POST to /predict or
/models/{name}/predict with no query string, whose multipart body holds only image files (`file` at most once,
`files` any number of times). Profiled at concurrency 16, FastAPI's dependency solving, form parsing into spooled
upload files and response validation cost the event loop about ten times what uvicorn itself does per request, and
more than the engine's share of a batch: the server could not keep up with its engine.

Only a request this middleware fully understands is answered here, the same way the route would answer it (the same
`answer`, the same refusals, counted under the route's name). Any other request, a body it cannot parse included,
goes on to FastAPI with its body replayed, and gets FastAPI's answer, validation errors and all."""

import re
from collections.abc import Awaitable, Callable

from python_multipart.multipart import parse_options_header
from starlette.responses import Response

from cnnlab.errors import CnnlabError, first_line
from cnnlab.serve.limits import UploadRefused, send_json

Answer = Callable[[str | None, list[str], list[bytes]], Awaitable[Response]]  # model name (None: default), files
NAMED_ROUTE = re.compile(r"^/models/([^/]+)/predict$")
FIELDS = ("file", "files")


def text(value: bytes) -> str:
    """A header parameter as text: UTF-8, else Latin-1 (as Starlette's own form parser reads it)."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def multipart_boundary(scope: dict) -> bytes | None:
    """The boundary of a multipart/form-data request body, or None for any other content type."""
    for key, value in scope["headers"]:
        if key.lower() == b"content-type":
            kind, options = parse_options_header(value)
            if kind.lower() == b"multipart/form-data" and options.get(b"boundary"):
                return options[b"boundary"]
            return None
    return None


def image_parts(body: bytes, boundary: bytes) -> tuple[list[str], list[bytes]] | None:
    """(file names, file bytes) of a multipart body whose parts are all files named `file` (once at most, first) or
    `files`, in the order answered; None for any other body (a text field, another name, a part without a filename,
    a malformed body), which is FastAPI's to answer."""
    delimiter = b"\r\n--" + boundary
    segments = (b"\r\n" + body).split(delimiter)
    if len(segments) < 3 or not segments[-1].startswith(b"--"):  # no part, or no closing delimiter
        return None
    single: tuple[str, bytes] | None = None
    names, datas = [], []
    for segment in segments[1:-1]:
        head, separator, data = segment.partition(b"\r\n\r\n")
        if not separator or not head.startswith(b"\r\n"):
            return None
        disposition = None
        for line in head[2:].split(b"\r\n"):
            key, colon, value = line.partition(b":")
            if not colon:
                return None
            if key.strip().lower() == b"content-disposition":
                disposition = value.strip()
            elif key.strip().lower() == b"content-transfer-encoding":
                return None
        if disposition is None:
            return None
        kind, options = parse_options_header(disposition)
        field = text(options.get(b"name", b""))
        if kind.lower() != b"form-data" or field not in FIELDS or b"filename" not in options:
            return None
        if field == "file":
            if single is not None:
                return None
            single = (text(options[b"filename"]), data)
        else:
            names.append(text(options[b"filename"]))
            datas.append(data)
    if single is not None:
        names.insert(0, single[0])
        datas.insert(0, single[1])
    return names, datas


class PlainPredict:
    """ASGI middleware: answers plain prediction requests itself (see the module), passes every other one on."""

    def __init__(self, app, answer: Answer, models: set[str], routes: dict) -> None:  # noqa: ANN001 (an ASGI app)
        """Wrap `app`; `answer(model, names, datas)` answers a request; `routes` maps "/predict" and
        "/models/{name}/predict" to the FastAPI routes whose names the metrics count these requests under."""
        self.app, self.answer, self.models, self.routes = app, answer, models, routes

    def target(self, scope: dict) -> tuple[str, str | None] | None:
        """(route template, model name or None for the default) of a request this middleware may answer, else None."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
            return None
        path = scope["path"]
        if path == "/predict":
            return "/predict", None
        named = NAMED_ROUTE.match(path)
        if named and named.group(1) in self.models:
            return "/models/{name}/predict", named.group(1)
        return None

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 (ASGI)
        """Answer the request, or pass it on with its body replayed."""
        target = self.target(scope)
        boundary = multipart_boundary(scope) if target is not None else None
        if boundary is None:
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        parts = image_parts(body, boundary)
        if parts is None:
            await self.app(scope, replayed(body, receive), send)
            return
        template, model = target
        scope["route"] = self.routes[template]  # what the metrics name the route after
        try:
            response = await self.answer(model, *parts)
        except UploadRefused as err:  # answered as the app's exception handlers answer them
            await send_json(send, err.status, {"error": str(err)})
            return
        except CnnlabError as err:
            await send_json(send, 400, {"error": first_line(err)})
            return
        await response(scope, receive, send)


def replayed(body: bytes, receive):  # noqa: ANN001, ANN201 (ASGI callables)
    """A `receive` that gives the body already read, then whatever the client sends next (its disconnect)."""
    given = False

    async def receive_again() -> dict:
        """The body once, then the connection's own messages."""
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again
