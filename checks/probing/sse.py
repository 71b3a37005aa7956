"""Incremental Server-Sent Events parser with a cap on how much one event may buffer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SseEvent:
    event: str = "message"
    data: str = ""
    id: str = ""


class SseTooLarge(Exception):
    """One event (or an unterminated line) grew beyond the byte cap."""


class SseParser:
    """Feed raw bytes, get complete events (per the WHATWG event-stream rules we rely on)."""

    def __init__(self, max_event_bytes: int) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._id = ""
        self._size = 0

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Consume `chunk`; return the events it completed."""
        buffer = self._buffer + chunk
        # A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
        cut = len(buffer) - 1 if buffer.endswith(b"\r") else len(buffer)
        complete, self._buffer = buffer[:cut], buffer[cut:]
        lines = complete.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._buffer = lines.pop() + self._buffer
        if len(self._buffer) > self.max_event_bytes:
            raise SseTooLarge
        events: list[SseEvent] = []
        for raw in lines:
            event = self._line(raw.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment / keep-alive ping
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._size += len(value)
            if self._size > self.max_event_bytes:
                raise SseTooLarge
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None

    def _dispatch(self) -> SseEvent | None:
        if not self._data and not self._event:
            self._id = ""
            return None
        event = SseEvent(self._event or "message", "\n".join(self._data), self._id)
        self._event, self._data, self._size, self._id = "", [], 0, ""
        return event
