"""Structured-log evidence for a project's Cloud Run services, from few Cloud Logging calls.

Cloud Logging allows 60 `entries.list` requests per minute per project
(https://cloud.google.com/logging/quotas), so one call per service cannot serve a project of
thousands. One call here names up to CHUNK_SERVICES services, `resource.labels.service_name =
("a" OR "b" ...)`, within the query length limit of 20,000 characters
(https://cloud.google.com/logging/docs/view/logging-query-language), over the last LOG_DAYS
days, newest first, following nextPageToken for at most MAX_PAGES pages of PAGE_SIZE entries.
Each service is decided from its newest LOG_ENTRIES entries seen. Services the bounded read did
not settle (chatty neighbours filled the pages) are read again without the settled ones, for at
most MAX_ROUNDS rounds; a service still unseen gets a reason saying what was read, never a
verdict. A 429 RESOURCE_EXHAUSTED (the quota) is retried after QUOTA_RETRY_S pauses (a read is
safe to repeat), then the project's unread services say the quota was exceeded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from checks.audits.evidence import Observation, Provenance
from checks.audits.readers.log_lines import JSON_SHARE

LOG_ENTRIES = 50  # per service: decide from its newest entries, as many as one call used to read
LOG_DAYS = 7
PAGE_SIZE = 1000  # the largest pageSize entries.list accepts
CHUNK_SERVICES = 100  # so MAX_PAGES pages hold LOG_ENTRIES entries of each
MAX_PAGES = 5
MAX_ROUNDS = 3
MAX_FILTER_CHARS = 20_000
READ_QUOTA = "60 entries.list requests per minute per project"
QUOTA_RETRY_S = (5.0, 20.0, 40.0)  # the quota is per minute: the last pause outlasts it
TIMEOUT_S = 15
PERMISSION = "logging.logEntries.list (roles/logging.viewer)"
# A Cloud Run service name is an RFC 1035 label (lower-case letters, digits, hyphens); only such
# names go into a filter, so a hostile name cannot change the query.
SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


class QuotaExceeded(Exception):
    """The project's read quota refused a call after every retry."""


@dataclass
class Tally:
    """One service's newest entries seen (at most LOG_ENTRIES): how many, how many JSON."""

    total: int = 0
    json: int = 0


@dataclass
class ChunkRead:
    seen: dict[str, Tally]
    pages: int
    entries: int
    complete: bool  # every matching entry in the window was read (no page left)


def log_filter(names: list[str], since: str) -> str:
    wanted = " OR ".join(f'"{name}"' for name in names)
    return (
        f'resource.type = "cloud_run_revision" AND resource.labels.service_name = ({wanted}) '
        f'AND NOT log_id("run.googleapis.com/requests") AND timestamp >= "{since}"'
    )


def chunks(names: list[str], since: str) -> Iterator[list[str]]:
    """The names in groups of at most CHUNK_SERVICES whose filter fits MAX_FILTER_CHARS."""
    empty = len(log_filter([], since))
    chunk: list[str] = []
    size = empty
    for name in names:
        extra = len(name) + 6  # the quotes and " OR "
        if chunk and (len(chunk) >= CHUNK_SERVICES or size + extra > MAX_FILTER_CHARS):
            yield chunk
            chunk, size = [], empty
        chunk.append(name)
        size += extra
    if chunk:
        yield chunk


def _message(response: Any) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def _list(session: Any, url: str, body: dict) -> dict:
    """One entries.list call; a quota refusal is retried after each pause of QUOTA_RETRY_S."""
    for pause in (*QUOTA_RETRY_S, None):
        response = session.post(url, json=body, timeout=TIMEOUT_S)
        if response.status_code == 429:
            if pause is None:
                raise QuotaExceeded(f"429 RESOURCE_EXHAUSTED {_message(response)}")
            time.sleep(pause)
            continue
        if response.status_code == 403:
            raise PermissionError(f"403 {_message(response)}; needs {PERMISSION}")
        if response.status_code >= 400:
            raise RuntimeError(f"{response.status_code} {_message(response)}")
        return response.json()
    raise AssertionError("unreachable")


def read_chunk(session: Any, url: str, project: str, names: list[str], since: str) -> ChunkRead:
    """The newest entries of these services, until each has LOG_ENTRIES, the pages run out or
    MAX_PAGES were read."""
    body: dict[str, Any] = {
        "resourceNames": [f"projects/{project}"],
        "filter": log_filter(names, since),
        "orderBy": "timestamp desc",
        "pageSize": PAGE_SIZE,
    }
    read = ChunkRead({name: Tally() for name in names}, 0, 0, False)
    while read.pages < MAX_PAGES:
        answer = _list(session, url, body)
        read.pages += 1
        for entry in answer.get("entries") or []:
            read.entries += 1
            labels = (entry.get("resource") or {}).get("labels") or {}
            tally = read.seen.get(labels.get("service_name", ""))
            if tally is not None and tally.total < LOG_ENTRIES:
                tally.total += 1
                tally.json += isinstance(entry.get("jsonPayload"), dict)
        body["pageToken"] = answer.get("nextPageToken") or ""
        if not body["pageToken"]:
            read.complete = True
            break
        if all(t.total >= LOG_ENTRIES for t in read.seen.values()):
            break
    return read


def origin(project: str, name: str, read_at: datetime) -> Provenance:
    return Provenance(
        f"Cloud Logging API entries.list (projects/{project}, service {name} with up to "
        f"{CHUNK_SERVICES - 1} others per call: newest entries of the last {LOG_DAYS} days, up "
        f"to {LOG_ENTRIES} per service)",
        read_at,
    )


def decide(tally: Tally, where: Provenance, note: str = "") -> Observation:
    summary = f"{tally.json} of {tally.total} recent entries were jsonPayload{note}"
    return Observation(tally.json >= JSON_SHARE * tally.total, where, summary)


def read_project(
    session: Any, base: str, project: str, names: list[str], read_at: datetime
) -> dict[str, Observation | str]:
    """Per service name of the project: its structured-log Observation, or why none."""
    since = (read_at - timedelta(days=LOG_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = f"{base.rstrip('/')}/v2/entries:list"
    answers: dict[str, Observation | str] = {}
    best: dict[str, Tally] = {}
    pending = []
    for name in dict.fromkeys(names):
        if SERVICE_NAME.match(name):
            pending.append(name)
        else:
            answers[name] = f"{name!r} is not a Cloud Run service name; its logs were not read"
    pages = entries = 0
    stopped = ""  # why reading stopped early, if it did
    for _ in range(MAX_ROUNDS):
        unsettled: list[str] = []
        for chunk in chunks(pending, since) if not stopped else ():
            try:
                read = read_chunk(session, url, project, chunk, since)
            except QuotaExceeded as exc:
                stopped = (
                    f"no evidence: the Cloud Logging read quota of project {project} was "
                    f"exceeded ({READ_QUOTA}; {exc}; retried {len(QUOTA_RETRY_S)} times)"
                )
                break
            except Exception as exc:
                stopped = f"reading the services' log entries failed ({exc})"
                break
            pages, entries = pages + read.pages, entries + read.entries
            for name, tally in read.seen.items():
                if tally.total > best.get(name, Tally()).total:
                    best[name] = tally
                if tally.total >= LOG_ENTRIES or read.complete:
                    answers[name] = _settled(project, name, best.get(name), read_at)
                else:
                    unsettled.append(name)
        pending = unsettled
        if stopped or not pending:
            break
    for name in names:
        if name in answers:
            continue
        tally, where = best.get(name), origin(project, name, read_at)
        if tally is not None and tally.total:
            why = stopped or f"the read stopped after {pages} pages"
            answers[name] = decide(tally, where, f" ({why.removeprefix('no evidence: ')})")
        elif stopped:
            answers[name] = stopped
        else:
            answers[name] = (
                f"no evidence: {pages} pages of entries.list ({entries} newest entries of "
                f"project {project}'s Cloud Run services in the last {LOG_DAYS} days, "
                f"{MAX_ROUNDS} rounds) held none from this service; busier services filled them"
            )
    return answers


def _settled(project: str, name: str, tally: Tally | None, read_at: datetime) -> Observation:
    where = origin(project, name, read_at)
    if tally is None or not tally.total:
        return Observation(None, where, f"no log entries from the service in {LOG_DAYS} days")
    return decide(tally, where)
