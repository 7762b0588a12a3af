"""Threaded JSON HTTP server on 127.0.0.1 for the API test doubles (test code, not a real API).

Each double registers routes (method + path regex). A request no route matches is answered
404 with a body naming the gap, printed to stderr and recorded in `unknown`, so a client call the
double does not model shows up loudly instead of passing silently.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: Any
    raw: bytes = b""  # the body as sent (a double of a binary API reads this, not `body`)
    query_string: str = ""  # as sent: parse_qs drops parameters without a value (`?hashmap`)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    """`body` is sent as JSON, or as it is when it is bytes; a `Content-Length` in `headers` wins
    (a HEAD's answer gives the size of what a GET would send)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class HttpFault(Exception):
    """Raised by a handler to answer with an error status and body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


@dataclass
class Fault:
    """A failure the double answers with instead of serving a matching request, as a cloud's API
    does on a bad day: an HTTP error (`status`), a stall of `stall` seconds before the normal
    answer (clients with a timeout give up first), or a connection closed without any answer
    (`reset`); with `answer_lost` the request is carried out and its answer replaced by the error
    (a gateway timing out on a slow create). It fires for `times` matching requests (None: every
    one) after letting `skip` pass; `query` restricts it to requests carrying that query
    parameter (a later page, say)."""

    method: str
    path: str
    status: int = 503
    stall: float = 0.0
    reset: bool = False
    answer_lost: bool = False
    times: int | None = 1
    skip: int = 0
    query: str | None = None
    fired: int = 0

    def matches(self, req: Request) -> bool:
        if req.method != self.method or not re.search(self.path, req.path):
            return False
        if self.query is not None and self.query not in req.query:
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


Handler = Callable[..., Reply]


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 resets connections when a client opens 50 at once;
    # a real API endpoint accepts them.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout ran out during an injected stall) closed the socket:
        # that is the test's point, not an error of the double.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class JsonDouble:
    """Routes and a server; subclasses add routes in `__init__` and `check_auth`."""

    label = "double"

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        self.unknown: list[str] = []
        self.log: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self._log_lock = threading.Lock()
        double = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every keep-alive request.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                double._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.label, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, pattern: str, handler: Handler, public: bool = False) -> None:
        """Answer `method` on paths matching `pattern` (named groups become keyword arguments).
        Routes are authenticated (`check_auth`) unless `public`."""
        self.routes.append((method, re.compile(f"^{pattern}/?$"), handler, public))

    def inject(self, method: str, path: str, **kw: Any) -> Fault:
        """Add a `Fault` for requests `method` on paths matching the regex `path`; returns it
        (its `fired` counts the requests it answered)."""
        fault = Fault(method, path, **kw)
        with self._log_lock:
            self.faults.append(fault)
        return fault

    def _fault_for(self, req: Request) -> Fault | None:
        with self._log_lock:
            return next((f for f in self.faults if f.matches(req)), None)

    def start(self) -> JsonDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def check_auth(self, req: Request) -> None:
        """Raise HttpFault(401) for a request without a valid token."""

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        req = Request(h.command, parts.path, parse_qs(parts.query), h.headers, body, raw, parts.query)
        with self._log_lock:
            self.log.append((req.method, req.path))
        fault = self._fault_for(req)
        if fault is not None and fault.reset:
            h.close_connection = True  # no status line at all: the client sees the peer hang up
            return
        if fault is not None and fault.stall:
            time.sleep(fault.stall)
        try:
            injected = HttpFault(fault.status, {"error": f"{self.label}: injected fault"}) if fault else None
            if fault is not None and not fault.stall and not fault.answer_lost:
                raise injected
            reply = self._dispatch(req)
            if fault is not None and fault.answer_lost:
                raise injected
        except HttpFault as fault:
            reply = Reply(fault.status, fault.body)
        except Exception as exc:  # a bug in the double: answer 500 and say so
            print(f"{self.label}: handler error for {req.method} {req.path}: {exc!r}", file=sys.stderr)
            reply = Reply(500, {"error": f"{self.label} bug: {exc!r}"})
        binary = isinstance(reply.body, bytes)
        data = reply.body if binary else b"" if reply.body is None else json.dumps(reply.body).encode()
        h.send_response(reply.status)
        if data and not binary:
            h.send_header("Content-Type", "application/json")
        for k, v in reply.headers.items():
            h.send_header(k, v)
        if "Content-Length" not in reply.headers:
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data and req.method != "HEAD":
            h.wfile.write(data)

    def _dispatch(self, req: Request) -> Reply:
        allowed = False
        for method, pattern, handler, public in self.routes:
            m = pattern.match(req.path)
            if not m:
                continue
            allowed = True
            if method == req.method or (method == "GET" and req.method == "HEAD"):
                if not public:
                    self.check_auth(req)
                return handler(req, **m.groupdict())
        gap = f"{req.method} {req.path}" + (f"?{req.query}" if req.query else "")
        self.unknown.append(gap)
        print(f"{self.label}: NOT MODELLED: {gap}", file=sys.stderr)
        status = 405 if allowed else 404
        return Reply(status, {"error": f"{self.label} does not model {gap}"})
