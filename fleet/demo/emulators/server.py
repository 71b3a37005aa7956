"""A threaded loopback HTTP(S) server that records every request and injects faults.

The cloud fakes (Cloud Run, Container Apps, Kubernetes, and the AWS fault proxy) build on it:
each subclass routes requests and renders errors in its own API's JSON shape, while this class
handles recording, fault injection (a status for the next N requests, or a delay), and lifecycle.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]  # first value of each parameter
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, else the raw text, else None
    raw_body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


@dataclass
class Reply:
    """What a route answers."""

    status: int
    body: Any = None  # dict/list -> JSON; bytes/str sent as is; None -> empty
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int
    remaining: int
    path_contains: str
    method: str
    message: str
    when: Callable[[RecordedRequest], bool] | None = None


class FakeServer:
    """Base for the strict cloud fakes: `with FakeX() as fake: fake.endpoint, fake.requests`."""

    def __init__(self, *, port: int = 0, tls: bool = False) -> None:
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._delays: list[list[Any]] = []  # [seconds, remaining, path_contains, method]
        self._port = port
        self._tls = tls
        self.cert_pem = b""
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- to override -------------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Reply:
        """Answer one request (subclasses implement the API)."""
        raise NotImplementedError

    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        """An error reply in the API's own JSON shape."""
        return Reply(status, {"error": {"code": status, "message": message}})

    def fault_message(self, status: int, request: RecordedRequest) -> str:
        """The message an injected fault carries, as the real API would phrase it."""
        return {
            403: "The caller does not have permission",
            404: "Requested entity was not found.",
            429: "Too many requests, please slow down.",
            500: "Internal error encountered.",
            503: "The service is currently unavailable.",
        }.get(status, f"Injected status {status}")

    # -- fault injection ---------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        path_contains: str = "",
        method: str = "",
        message: str = "",
        when: Callable[[RecordedRequest], bool] | None = None,
    ) -> None:
        """Answer the next `count` matching requests with `status` in the API's error shape."""
        with self.lock:
            fault = _Fault(status, count, path_contains, method.upper(), message, when)
            self._faults.append(fault)

    def delay_next(
        self, seconds: float, count: int = 1, *, path_contains: str = "", method: str = ""
    ) -> None:
        """Hold the next `count` matching requests for `seconds` before answering."""
        with self.lock:
            self._delays.append([seconds, count, path_contains, method.upper()])

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def requests_to(self, method: str = "", path_contains: str = "") -> list[RecordedRequest]:
        """Recorded requests filtered by method and path substring."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (not method or r.method == method.upper()) and path_contains in r.path
            ]

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "fake not started"
        return self._httpd.server_address[1]

    @property
    def endpoint(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._httpd.daemon_threads = True
        if self._tls:
            from fleet.demo.emulators.tls import self_signed_context

            context, self.cert_pem = self_signed_context()
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the foreground (standalone demo mode) until Ctrl-C."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # -- internals ---------------------------------------------------------------------------
    def _take_fault(self, request: RecordedRequest) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.path_contains in request.path:
                    if fault.method and fault.method != request.method:
                        continue
                    if fault.when is not None and not fault.when(request):
                        continue
                    fault.remaining -= 1
                    return fault
            self._faults = [f for f in self._faults if f.remaining > 0]
        return None

    def _take_delay(self, request: RecordedRequest) -> float:
        with self.lock:
            for delay in self._delays:
                if delay[1] > 0 and delay[2] in request.path and delay[3] in ("", request.method):
                    delay[1] -= 1
                    return float(delay[0])
        return 0.0

    def handle(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.requests.append(request)
        pause = self._take_delay(request)
        if pause:
            time.sleep(pause)
        fault = self._take_fault(request)
        if fault is not None:
            message = fault.message or self.fault_message(fault.status, request)
            reply = self.error(fault.status, message, request)
            if fault.status == 429:
                reply.headers.setdefault("Retry-After", "0")
            return reply
        with self.lock:
            return self.route(request)


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type or text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _make_handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
        # client's delayed ACK (~40 ms a reply on Linux), which no real cloud API adds.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return  # keep test output clean; requests are recorded instead

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            request = RecordedRequest(
                method=self.command,
                path=parts.path,
                query=query,
                headers=headers,
                body=_parse_body(raw, headers.get("content-type", "")),
                raw_body=raw,
            )
            try:
                reply = fake.handle(request)
            except Exception as exc:  # a bug in the fake must show up as a 500, not a hang
                reply = fake.error(500, f"fake crashed: {exc!r}", request)
            self._write(reply)

        def _write(self, reply: Reply) -> None:
            if isinstance(reply.body, dict | list):
                payload = json.dumps(reply.body).encode()
                content_type = "application/json"
            elif isinstance(reply.body, str):
                payload, content_type = reply.body.encode(), "text/plain"
            else:
                payload, content_type = reply.body or b"", "application/octet-stream"
            self.send_response(reply.status)
            headers = dict(reply.headers)
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = content_type
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


def make_ssl_server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """An SSL server context from in-memory PEM data (written to a private temp dir)."""
    import tempfile
    from pathlib import Path

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context
