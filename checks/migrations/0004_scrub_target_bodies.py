"""Errors recorded before viewers stopped seeing target bodies quoted those bodies (an HTML title,
the start of a body, a JSON-RPC error message, a tool's result, a webhook receiver's answer). Strip
the quoted parts from what viewers read, so an upgrade does not keep showing them.

Self-contained on purpose (migrations must not depend on code that may change later).
"""

from __future__ import annotations

import re

from django.db import migrations

_RPC = re.compile(r"(JSON-RPC error -?\d+): [^)\n]*")
_TOOL = re.compile(r"(returned an error): .*", re.S)
_GOT = re.compile(r"(in the result), got .*", re.S)
_HTTP = re.compile(r"(HTTP \d{3}): .*", re.S)
_QUOTED = re.compile(r"""b?'(?:[^'\\\n]|\\.)*'|b?"(?:[^"\\\n]|\\.)*\"""")
_HTML = re.compile(r"an HTML page \([^)\n]*\)")


def scrub(text: str) -> str:
    """`text` without the bytes it quoted from a target."""
    if not text:
        return text
    text = _RPC.sub(r"\1", text)
    text = _TOOL.sub(r"\1", text)
    text = _GOT.sub(r"\1, which does not contain it", text)
    text = _HTML.sub("an HTML page", text)
    return _QUOTED.sub("'…'", text)


def scrub_delivery_error(text: str) -> str:
    return _HTTP.sub(r"\1", text) if text else text


def scrub_json(value):
    """Every string inside a JSON document (a delivery's payload), scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub_json(v) for k, v in value.items()}
    return value


def _each(queryset, fields: tuple[str, ...], fix) -> None:
    batch = []
    for row in queryset.only("pk", *fields).iterator(chunk_size=500):
        changed = False
        for field in fields:
            old = getattr(row, field)
            new = fix(old)
            if new != old:
                setattr(row, field, new)
                changed = True
        if changed:
            batch.append(row)
        if len(batch) >= 500:
            queryset.model.objects.bulk_update(batch, fields)
            batch = []
    if batch:
        queryset.model.objects.bulk_update(batch, fields)


def scrub_all(apps, schema_editor) -> None:
    ProbeResult = apps.get_model("checks", "ProbeResult")
    Incident = apps.get_model("checks", "Incident")
    StateChange = apps.get_model("checks", "StateChange")
    Service = apps.get_model("fleet", "Service")
    Alert = apps.get_model("notifications", "Alert")
    Delivery = apps.get_model("notifications", "Delivery")

    _each(ProbeResult.objects.filter(ok=False).exclude(error=""), ("error",), scrub)
    ProbeResult.objects.exclude(tool_call_detail="").update(tool_call_detail="")
    _each(Incident.objects.exclude(first_error=""), ("first_error",), scrub)
    _each(StateChange.objects.exclude(reason=""), ("reason",), scrub)
    _each(Service.objects.exclude(last_error=""), ("last_error",), scrub)
    _each(Alert.objects.exclude(body=""), ("body",), scrub)
    _each(Alert.objects.exclude(details={}), ("details",), scrub_json)
    _each(Delivery.objects.exclude(last_error=""), ("last_error",), scrub_delivery_error)
    _each(Delivery.objects.exclude(payload={}), ("payload",), scrub_json)


class Migration(migrations.Migration):
    dependencies = [
        ("checks", "0003_probe_body_excerpt"),
        ("fleet", "0005_kubernetes_requests"),
        ("notifications", "0002_reminder_schedule"),
    ]

    operations = [migrations.RunPython(scrub_all, migrations.RunPython.noop, elidable=True)]
