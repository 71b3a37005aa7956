"""Why a probe phase failed, as an exception carrying the phase and a plain-language cause."""

from __future__ import annotations

import re
from typing import Any

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


class ProbeFailure(Exception):
    """A phase of a probe failed; `str()` is the sentence shown to operators."""

    def __init__(self, phase: str, cause: str) -> None:
        super().__init__(f"{phase}: {cause}")
        self.phase = phase
        self.cause = cause


class ReplyFailure(ProbeFailure):
    """The server answered, but not with a usable reply (error status, JSON-RPC error, garbage)."""


class HttpStatusFailure(ReplyFailure):
    """The server answered with an HTTP error status (4xx/5xx)."""

    def __init__(self, phase: str, cause: str, status: int, rpc_code: int | None = None) -> None:
        super().__init__(phase, cause)
        self.status = status
        self.rpc_code = rpc_code


class RpcErrorFailure(ReplyFailure):
    """The server answered with a JSON-RPC error object."""

    def __init__(self, phase: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(phase, f"server returned JSON-RPC error {code}: {message}")
        self.code = code
        self.rpc_message = message
        self.data = data


def describe_body(body: bytes, content_type: str, limit: int = 120) -> str:
    """Summarise an unexpected response body in a few words (an HTML page's title, or its start)."""
    if not body.strip():
        return "an empty body"
    kind = content_type.split(";", 1)[0].strip() or "no content type"
    if b"<html" in body[:2048].lower() or kind == "text/html":
        match = _TITLE.search(body[:65536])
        title = _clean(match.group(1).decode("utf-8", "replace")) if match else ""
        return f"an HTML page ({title!r})" if title else "an HTML page"
    text = _clean(body[: limit * 2].decode("utf-8", "replace"))
    if len(text) > limit:
        text = text[:limit] + "…"
    return f"{kind} {text!r}"


def _clean(text: str) -> str:
    return _SPACE.sub(" ", _TAGS.sub(" ", text)).strip()
