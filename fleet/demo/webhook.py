"""A local webhook receiver for the demo's alert channel: it keeps what it is sent and shows it.

`python -m fleet.demo.webhook --port 8099 --store var/demo/webhook.jsonl` accepts JSON POSTs on
any path (at most 64 KiB each), appends each to the store (one JSON object a line, so messages
survive a restart) and serves them newest first: `GET /` as a page, `GET /messages.json` as JSON.
Everything shown is escaped: a message is data, never markup.
"""

from __future__ import annotations

import argparse
import html
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 64 * 1024
SHOWN = 200


class Inbox:
    """The received messages, appended to a JSON-lines file."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.lock = threading.Lock()
        store.parent.mkdir(parents=True, exist_ok=True)

    def add(self, path: str, body: bytes) -> dict:
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = body.decode("utf-8", "replace")
        message = {"received_at": datetime.now(UTC).isoformat(timespec="seconds"),
                   "path": path, "payload": payload}  # fmt: skip
        with self.lock, self.store.open("a", encoding="utf-8") as out:
            out.write(json.dumps(message) + "\n")
        return message

    def messages(self) -> list[dict]:
        """Newest first."""
        if not self.store.exists():
            return []
        with self.lock:
            lines = self.store.read_text(encoding="utf-8").splitlines()
        found = []
        for line in reversed(lines):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a crash
        return found


def _summary(message: dict) -> str:
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "(not a console alert)"
    alert = payload.get("alert") or {}
    parts = [payload.get("event", "?"), alert.get("severity", ""), alert.get("title", "")]
    return " · ".join(str(p) for p in parts if p)


def render_page(messages: list[dict]) -> str:
    rows = "".join(
        f"<li><b>{html.escape(m.get('received_at', ''))}</b> {html.escape(_summary(m))}"
        f"<pre>{html.escape(json.dumps(m.get('payload'), indent=2))}</pre></li>"
        for m in messages[:SHOWN]
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='refresh' content='5'><title>Demo webhook receiver</title></head>"
        f"<body><h1>Demo webhook receiver</h1><p>{len(messages)} message(s) received, newest "
        f"first (JSON: <a href='/messages.json'>/messages.json</a>).</p><ol>{rows}</ol>"
        "</body></html>"
    )


def make_handler(inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, "text/plain", b"message larger than 64 KiB")
                return
            inbox.add(self.path, self.rfile.read(length))
            self._send(200, "application/json", b'{"received": true}')

        def do_GET(self) -> None:
            if self.path == "/messages.json":
                body = json.dumps(inbox.messages()).encode()
                self._send(200, "application/json", body)
            elif self.path == "/":
                self._send(200, "text/html; charset=utf-8", render_page(inbox.messages()).encode())
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the page is the log

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(Inbox(args.store)))
    server.serve_forever()


if __name__ == "__main__":
    main()
