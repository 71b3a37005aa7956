"""The lean HTTP/1.1 client against raw sockets: framing, keep-alive, and servers that break HTTP."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable

import httpx
import pytest

from checks.probing import h1
from checks.probing.http_probe import probe_http_health
from checks.probing.types import ProbeOutcome, ProbeTarget

OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"

# A script answers one request: a list of byte strings written with a short pause between them
# (so the client sees them in separate reads), then the connection stays open unless it says so.
Script = Callable[[bytes], list[bytes]]


def replies(*pieces: bytes) -> Script:
    """The same answer to every request."""
    return lambda _request: list(pieces)


async def _raw_server(script: Script, seen: list[bytes]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                seen.append(request)
                for piece in script(request):
                    if piece == b"<close>":
                        writer.close()
                        return
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.01)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def health(script: Script, **target: object) -> tuple[ProbeOutcome, list[bytes], h1.ProbeClient]:
    """Run a health probe against a raw server answering with `script`."""
    seen: list[bytes] = []

    async def go() -> tuple[ProbeOutcome, h1.ProbeClient]:
        server = await _raw_server(script, seen)
        port = server.sockets[0].getsockname()[1]
        async with server, h1.ProbeClient() as client:
            options = {"kind": "agent_backend", "timeout_s": 1.0, **target}
            outcome = await probe_http_health(
                ProbeTarget("raw", f"http://127.0.0.1:{port}", **options), client
            )
            return outcome, client

    outcome, client = asyncio.run(go())
    return outcome, seen, client


def test_a_chunked_body_split_across_reads_is_reassembled():
    body = json.dumps({"status": "ok", "pad": "x" * 5000}).encode()
    pieces = [body[:7], body[7:4000], body[4000:]]
    chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
    # Split mid chunk-size line and mid CRLF too.
    wire = b"".join(chunks) + b"0\r\nx-trailer: 1\r\n\r\n"
    script = replies(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n", wire[:3], wire[3:9], wire[9:])

    outcome, _, client = health(script, expected_json_field="status=ok")

    assert outcome.ok, outcome.error
    assert (client.opened, client.open_now) == (1, 0)


def test_a_body_that_ends_with_the_connection_is_read_to_the_end():
    script = replies(b"HTTP/1.1 200 OK\r\n\r\n", b'{"status":', b' "ok"}', b"<close>")

    outcome, _, _ = health(script, expected_json_field="status=ok")

    assert outcome.ok, outcome.error


def test_interim_1xx_responses_are_skipped_and_unasked_gzip_is_decoded():
    body = gzip.compress(b'{"status": "ok"}')
    script = replies(
        b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n",
        OK_HEAD + b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body) + body,
    )

    outcome, seen, _ = health(script, expected_json_field="status=ok")

    assert outcome.ok, outcome.error
    assert b"accept-encoding" not in seen[0].lower()


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        ([b"SSH-2.0-OpenSSH_9.6\r\n\r\n"], "not an HTTP/1.1 status line"),
        ([b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"], "malformed response header line"),
        ([OK_HEAD + b"content-length: 12, 13\r\n\r\n"], "invalid Content-Length"),
        ([OK_HEAD + b"transfer-encoding: chunked\r\n\r\nzz\r\n"], "invalid chunk size"),
        ([OK_HEAD + b"content-length: 100\r\n\r\n{", b"<close>"], "closed the connection mid-body"),
        ([b"<close>"], "Server disconnected without sending a response"),
        ([b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 70000], "response headers exceed 64 KiB"),
    ],
)
def test_servers_that_break_http_get_a_clear_failure(reply, words):
    outcome, _, client = health(replies(*reply))

    assert not outcome.ok
    assert outcome.phase == "health"
    assert "broke the HTTP protocol or closed the connection" in outcome.error
    assert words in outcome.error, outcome.error
    assert client.open_now == 0


def test_a_header_value_with_a_line_break_is_refused_before_sending():
    outcome, seen, client = health(
        replies(OK_HEAD + b"content-length: 2\r\n\r\n{}"),
        auth_header="Authorization",
        auth_value="Bearer x\r\nX-Injected: 1",
    )

    assert not outcome.ok
    assert "the Authorization header value contains a line break" in outcome.error
    assert seen == [] and client.opened == 0


def test_keep_alive_between_requests_unless_the_server_says_close():
    async def go(script: Script) -> tuple[list[int], int]:
        seen: list[bytes] = []
        server = await _raw_server(script, seen)
        port = server.sockets[0].getsockname()[1]
        url = httpx.URL(f"http://127.0.0.1:{port}/")
        async with server, h1.ProbeClient() as client:
            connections = client.connections()
            statuses = []
            for _ in range(3):
                response = await connections.send("GET", url, [])
                async for _chunk in response.aiter_bytes():
                    pass
                await response.aclose()
                statuses.append(response.status_code)
            await connections.aclose()
            assert client.open_now == 0
            return statuses, client.opened

    alive = replies(OK_HEAD + b"content-length: 2\r\n\r\n{}")
    closing = replies(OK_HEAD + b"connection: close\r\ncontent-length: 2\r\n\r\n{}", b"<close>")

    assert asyncio.run(go(alive)) == ([200, 200, 200], 1)
    assert asyncio.run(go(closing)) == ([200, 200, 200], 3)
