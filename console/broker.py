"""Sending tasks to the queue, and what happens when the queue (the Celery broker) is down.

A task is sent once the transaction that created its row commits. If the broker cannot take it,
the row is marked failed there and then with the reason, so nothing waits "queued" forever, and
`BrokerUnavailable` reaches the caller: the API answers 503, a page shows the message, the CLI
exits with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The task queue could not take a task; the row it was for has been marked failed."""


def unreachable_reason(exc: BaseException) -> str:
    return f"the task queue (broker) is unreachable: {str(exc).rstrip('.')}"


def send_task(task: Any, *args: Any, on_failure: Callable[[str], None], **kwargs: Any) -> None:
    """Send `task(*args, **kwargs)` now; on a broker failure call `on_failure(reason)` and raise."""
    try:
        task.delay(*args, **kwargs)
    except OperationalError as exc:  # what Celery raises when publishing fails after its retries
        reason = unreachable_reason(exc)
        logger.error("could not send %s%r: %s", task.name, args, reason)
        on_failure(reason)
        raise BrokerUnavailable(reason) from exc


def send_on_commit(task: Any, *args: Any, on_failure: Callable[[str], None], **kwargs: Any) -> None:
    """`send_task` once the current transaction commits (at once outside a transaction).

    The callback raises `BrokerUnavailable` out of the atomic block that scheduled it, after the
    commit: the rows stay, the failed one says why.
    """
    transaction.on_commit(lambda: send_task(task, *args, on_failure=on_failure, **kwargs))


class BrokerUnavailableMiddleware:
    """A page action that could not reach the queue: back to the page it came from, with why.

    (The API answers 503 itself, see console.api_errors.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, BrokerUnavailable):
            return None
        messages.error(
            request,
            f"Could not start it: {exception}. It is recorded as failed; try again when the "
            "queue is back.",
        )
        back = request.headers.get("Referer", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = reverse("dashboard")
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(status=503)
            response["HX-Redirect"] = back
            return response
        return HttpResponseRedirect(back, status=303)
