"""Refuse characters no backend can store, before any view sees them.

PostgreSQL cannot store NUL in text or jsonb, and neither database driver can encode a lone UTF-16
surrogate as UTF-8; either one used to end a request in a 500 (or, on SQLite, in a silently cut
string). One middleware checks the path, the query string and the body (form fields, and JSON after
decoding, so `\\u0000` and a lone `\\ud800` escape are caught too) and answers 422 naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render

from console.access import API_PREFIX

# NUL, and UTF-16 surrogates (only ever lone ones in a Python str).
UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
# Deeper JSON than this is not something the API accepts anywhere (the decoder's own limit is
# Python's recursion limit, which raises RecursionError: a 500).
MAX_JSON_DEPTH = 32


def unstorable_reason(value: str) -> str | None:
    """Why `value` cannot be stored, or None when it can."""
    match = UNSTORABLE_RE.search(value)
    if match is None:
        return None
    if match.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored."
    return f"contains a lone surrogate (\\u{ord(match.group()):04x}), which is not valid text."


def _walk_json(value: Any, loc: tuple, depth: int = 0) -> Iterator[tuple[tuple, str]]:
    if depth > MAX_JSON_DEPTH:
        yield loc, f"is nested more than {MAX_JSON_DEPTH} levels deep."
        return
    if isinstance(value, str):
        reason = unstorable_reason(value)
        if reason:
            yield loc, reason
    elif isinstance(value, dict):
        for key, item in value.items():
            reason = unstorable_reason(key)
            if reason:
                yield (*loc, key.encode("utf-8", "backslashreplace").decode()), "key " + reason
            else:
                yield from _walk_json(item, (*loc, key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_json(item, (*loc, index), depth + 1)


def _walk_pairs(where: str, pairs: Any) -> Iterator[tuple[tuple, str]]:
    for key, values in pairs.lists():
        key_reason = unstorable_reason(key)
        if key_reason:
            yield (where, key.encode("utf-8", "backslashreplace").decode()), "name " + key_reason
            continue
        for value in values:
            reason = unstorable_reason(value) if isinstance(value, str) else None
            if reason:
                yield (where, key), reason
                break


def _body_problems(request: HttpRequest) -> Iterator[tuple[tuple, str]]:
    content_type = (request.content_type or "").lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        if not request.body:
            return
        try:
            data = json.loads(request.body)
        except RecursionError:
            yield ("body",), f"is nested more than {MAX_JSON_DEPTH} levels deep."
            return
        except ValueError:
            return  # not JSON at all: the API's own parser answers that
        yield from _walk_json(data, ("body",))
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if request.path_info.startswith(API_PREFIX):
            # The API reads request.body itself, which Django refuses once POST has streamed it.
            request.body  # noqa: B018 - read into memory first
        try:
            post = request.POST
            files = request.FILES
        except MultiPartParserError:
            return  # Django answers a broken multipart body itself
        yield from _walk_pairs("body", post)
        for field, upload in files.items():
            reason = unstorable_reason(upload.name or "")
            if reason:
                yield ("body", field), "file name " + reason


def find_problems(request: HttpRequest) -> list[tuple[tuple, str]]:
    """Every (location, reason) for unstorable text in the path, the query string and the body."""
    problems: list[tuple[tuple, str]] = []
    reason = unstorable_reason(request.path_info)
    if reason:
        problems.append((("path",), reason))
    problems += _walk_pairs("query", request.GET)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        problems += _body_problems(request)
    return problems


class RejectUnstorableInputMiddleware:
    """422 for input a database cannot store: JSON for the API, a page naming the field otherwise."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problems = find_problems(request)
        if not problems:
            return self.get_response(request)
        detail = [
            {"loc": [str(part) for part in loc], "msg": msg, "type": "value_error"}
            for loc, msg in problems
        ]
        if request.path_info.startswith(API_PREFIX) or "json" in (request.content_type or ""):
            return JsonResponse({"detail": detail}, status=422)
        lines = [f"{'.'.join(d['loc'][1:]) or d['loc'][0]}: {d['msg']}" for d in detail]
        return render(request, "input_refused.html", {"problems": lines}, status=422)
