"""Why a probe phase failed, as an exception carrying the phase and a plain-language cause."""

from __future__ import annotations

import re
from typing import Any

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def host_port(host: str, port: int | None) -> str:
    """`host:port` as a URL writes it: IPv6 addresses in brackets ([::1]:8080)."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{shown}:{port}" if port is not None else shown


class ProbeFailure(Exception):
    """A phase of a probe failed; `str()` is the sentence everyone may read (status, content
    type, size: never bytes from the target); `excerpt` is what the target said, redacted, for
    operators only."""

    def __init__(self, phase: str, cause: str, *, excerpt: str = "") -> None:
        super().__init__(f"{phase}: {cause}")
        self.phase = phase
        self.cause = cause
        self.excerpt = excerpt


class ClientUnsupported(ProbeFailure):
    """The lean client cannot talk to this server; `reason` says why (the httpx path can)."""

    def __init__(self, phase: str, cause: str, reason: str) -> None:
        super().__init__(phase, cause)
        self.reason = reason


class ReplyFailure(ProbeFailure):
    """The server answered, but not with a usable reply (error status, JSON-RPC error, garbage)."""


class HttpStatusFailure(ReplyFailure):
    """The server answered with an HTTP error status (4xx/5xx)."""

    def __init__(
        self,
        phase: str,
        cause: str,
        status: int,
        rpc_code: int | None = None,
        *,
        excerpt: str = "",
    ) -> None:
        super().__init__(phase, cause, excerpt=excerpt)
        self.status = status
        self.rpc_code = rpc_code


class NeedsCredentials(HttpStatusFailure):
    """401 with a WWW-Authenticate challenge: the server is there and asks for credentials."""


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9._~+/-]{0,30}")


def challenge_scheme(header: str) -> str:
    """The auth scheme a WWW-Authenticate header names ("Bearer"), or "" when it is not a token."""
    first = header.strip().split(None, 1)[0] if header.strip() else ""
    first = first.split(",", 1)[0]
    return first if _SCHEME.fullmatch(first) else ""


class RpcErrorFailure(ReplyFailure):
    """The server answered with a JSON-RPC error object."""

    def __init__(self, phase: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(
            phase,
            f"server returned JSON-RPC error {rpc_error_name(code)}",
            excerpt=f"JSON-RPC error {code}: {redact(message)[:300]}",
        )
        self.code = code
        self.rpc_message = message
        self.data = data


# JSON-RPC 2.0 section 5.1: the predefined error codes, named by the spec (not by the server).
_RPC_ERRORS = {
    -32700: "Parse error",
    -32600: "Invalid Request",
    -32601: "Method not found",
    -32602: "Invalid params",
    -32603: "Internal error",
}


def rpc_error_name(code: int) -> str:
    """`-32601 (Method not found)`: the code and, for predefined codes, the spec's name."""
    name = _RPC_ERRORS.get(code) or ("server error" if -32099 <= code <= -32000 else "")
    return f"{code} ({name})" if name else str(code)


def describe_body(body: bytes, content_type: str) -> str:
    """An unexpected body by its content type and size only, never its bytes (viewers read it)."""
    if not body.strip():
        return "an empty body"
    kind = content_type.split(";", 1)[0].strip() or "no content type"
    return f"{kind}, {len(body):,} bytes"


def body_excerpt(body: bytes, content_type: str, limit: int = 200) -> str:
    """What an unexpected body says, for operators: an HTML page's title or the text's start,
    with anything that looks like a credential redacted."""
    if not body.strip():
        return ""
    kind = content_type.split(";", 1)[0].strip() or "no content type"
    if b"<html" in body[:2048].lower() or kind == "text/html":
        match = _TITLE.search(body[:65536])
        title = _clean(match.group(1).decode("utf-8", "replace")) if match else ""
        return f"HTML page titled {redact(title)[:limit]!r}" if title else "an HTML page"
    text = _clean(body[: limit * 4].decode("utf-8", "replace"))
    text = redact(text)
    return text[:limit] + "…" if len(text) > limit else text


_REDACTIONS = [
    # PEM private keys, whole.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    # Authorization schemes followed by their credential.
    re.compile(r"(?i)\b(?:bearer|basic|token|digest|negotiate)\s+[A-Za-z0-9._~+/=-]{6,}"),
    # JWTs (header.payload.signature, base64url).
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # AWS access key ids.
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    # user:password@ in URLs.
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),
    # Long hex or base64-like runs (API keys, AWS secret keys, session ids).
    re.compile(r"\b[0-9a-fA-F]{32,}\b"),
    re.compile(
        r"(?<![A-Za-z0-9+/_-])(?=[A-Za-z0-9+/_-]*[0-9])(?=[A-Za-z0-9+/_-]*[A-Za-z])"
        r"[A-Za-z0-9+/_-]{32,}={0,2}"
    ),
]
# key=value, key: value, "key": "value" where the key names a secret.
_SECRET_PAIR = re.compile(
    r"(?i)([\"']?[\w.-]*(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|access[_-]?key|"
    r"private[_-]?key|credential|session|signature|auth)[\w.-]*[\"']?\s*[:=]\s*)"
    r"(\[redacted\]|\"[^\"]*\"|'[^']*'|[^\s,;&}\]]+)"
)


def redact(text: str) -> str:
    """`text` with credential-looking material replaced by [redacted]."""
    for pattern in _REDACTIONS:
        text = pattern.sub("[redacted]", text)
    return _SECRET_PAIR.sub(lambda m: m.group(1) + "[redacted]", text)


def _clean(text: str) -> str:
    return _SPACE.sub(" ", _TAGS.sub(" ", text)).strip()


# A quoted piece of what a server sent (a status line, a header line) inside an HTTP library's
# error message, e.g. "illegal status line: bytearray(b'-ERR ...')": target bytes.
_QUOTED_BYTES = re.compile(
    r"""\s*:?\s*(?:bytearray\()?b?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\)?"""
)


def without_quoted_bytes(text: str) -> str:
    """An HTTP library's error message without the server bytes it quotes (viewers read it)."""
    return _QUOTED_BYTES.sub("", text).strip() or "unreadable response"
