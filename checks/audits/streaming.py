"""Stream an export under WSGI and ASGI alike.

Under ASGI (uvicorn, the README's web process) Django consumes a *synchronous* streaming iterator
whole into a list before sending a byte ("StreamingHttpResponse must consume synchronous
iterators"), which would hold a 5,000-service export (about 100 MB) in the web process's memory.
There the chunks are handed over as an async iterator that pulls one chunk at a time in Django's
sync thread, where the export's database reads belong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

_END = object()


def streaming_response(
    request: HttpRequest, chunks: Iterator[str], content_type: str
) -> StreamingHttpResponse:
    """A response that streams `chunks` without collecting them, whichever server runs it."""
    if isinstance(request, ASGIRequest):
        return StreamingHttpResponse(_pulled(chunks), content_type=content_type)
    return StreamingHttpResponse(chunks, content_type=content_type)


async def _pulled(chunks: Iterator[str]) -> AsyncIterator[str]:
    pull = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await pull(chunks, _END)) is not _END:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:  # a client that went away ends the generator and its cursor
            await sync_to_async(close, thread_sensitive=True)()
