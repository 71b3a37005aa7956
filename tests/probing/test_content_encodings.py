"""Bodies a server compressed unasked: raw and zlib deflate, stacked codings, and a clear error
for a coding the probe cannot decode; the header-size cap on every read; folded headers; an
event stream's buffered end keeps the connection (real loopback
sockets, scripted replies)."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import httpx
import pytest

from checks.probing import h1
from tests.probing.test_h1 import OK_HEAD, _raw_server, health, replies

JSON = b'{"status": "ok"}'


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _reply(coding: bytes, body: bytes) -> bytes:
    head = b"content-encoding: %s\r\ncontent-length: %d\r\n\r\n" % (coding, len(body))
    return OK_HEAD + head + body


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        (b"deflate", zlib.compress(JSON)),  # RFC 9110 §8.4.1.2: zlib-wrapped
        (b"deflate", _raw_deflate(JSON)),  # what some servers send instead
        (b"gzip, deflate", zlib.compress(gzip.compress(JSON))),  # applied in the order listed
        (b"identity", JSON),
    ],
)
def test_compressed_health_bodies_are_decoded(coding, body):
    outcome, _, _ = health(replies(_reply(coding, body)), expected_json_field="status=ok")
    assert outcome.ok, outcome.error


def test_an_unsupported_content_encoding_is_named():
    outcome, _, _ = health(replies(_reply(b"zstd", b"\x28\xb5\x2f\xfd" + JSON)))
    assert not outcome.ok
    assert "content encoding" in outcome.error and "does not decode" in outcome.error
    assert "gzip, deflate" in outcome.error


def test_the_header_size_cap_holds_when_the_end_arrives_with_the_excess():
    big = b"x-filler: " + b"a" * (100 * 1024) + b"\r\n"
    outcome, _, _ = health(replies(OK_HEAD + big + b"content-length: 2\r\n\r\n{}"))
    assert not outcome.ok and "headers exceed 64 KiB" in outcome.error


def test_obsolete_folded_headers_are_unfolded():
    # RFC 9112 §5.2: obs-fold is replaced by a space before the value is read.
    body = gzip.compress(JSON)
    head = b"content-encoding:\r\n gzip\r\ncontent-length: %d\r\n\r\n" % len(body)
    outcome, _, _ = health(replies(OK_HEAD + head + body), expected_json_field="status=ok")
    assert outcome.ok, outcome.error


def test_an_event_stream_whose_end_is_already_buffered_keeps_its_connection():
    event = b"event: message\r\ndata: {}\r\n\r\n"
    sse = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
    # the event and the stream's end in one write: the reader stops after the event
    reply = sse + b"\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event)

    async def go() -> int:
        server = await _raw_server(replies(reply), [])
        url = httpx.URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/mcp")
        async with server, h1.ProbeClient() as client:
            connections = h1.Connections(client)
            for _ in range(2):
                response = await connections.send("POST", url, [], b"{}")
                async for piece in response.aiter_bytes():
                    assert b"data: {}" in piece
                    break  # the reply arrived; the rest of the stream is not read
                await response.aclose()
            await connections.aclose()
            return client.opened

    assert asyncio.run(go()) == 1
