"""Bulk attestation: one rule for a team, an environment, a tag or chosen services, in one step,
with note and expiry, audit-logged, from the form (with a confirm step), the API and the CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from checks.audits import services as audit_services
from checks.audits.models import Attestation
from console.models import AuditLogEntry
from fleet.models import Service

RULE = "security.rate-limiting"


def _attested_names(rule: str = RULE) -> set[str]:
    return set(Attestation.objects.filter(rule_id=rule).values_list("service__name", flat=True))


def test_attesting_for_a_team_covers_exactly_its_services_with_one_log_row_each(
    fleet, operator, run_audit
):
    done = audit_services.attest_bulk(
        actor=operator, source="ui", rule_id=RULE, note="Envoy 50 rps per token", team="platform"
    )
    assert sorted(done.services) == ["assistant", "notes"]
    assert _attested_names() == {"assistant", "notes"}
    rows = AuditLogEntry.objects.filter(action="attest", source="ui", actor=operator)
    assert rows.count() == 2
    assert {r.after["service"] for r in rows} == {"assistant", "notes"}
    assert all(r.after["selection"] == "team platform" for r in rows)

    run = run_audit()
    statuses = {r.service_name: r.status for r in run.results.filter(rule_id=RULE)}
    assert statuses["notes"] == statuses["assistant"] == "pass"
    assert statuses["search"] == "needs_attestation"


def test_selectors_combine_and_rules_that_do_not_apply_are_skipped(fleet, operator):
    done = audit_services.attest_bulk(
        actor=operator,
        source="api",
        rule_id="reliability.client-retries",  # agent backends only
        note="tenacity, 3 tries",
        environment="production",
        tag="demo",
    )
    assert done.services == ["assistant"]
    assert sorted(done.skipped) == ["notes", "search"]


def test_chosen_services_with_an_expiry_date(fleet, operator):
    on = (timezone.now() + timedelta(days=30)).date()
    done = audit_services.attest_bulk(
        actor=operator,
        source="cli",
        rule_id=RULE,
        note="WAF rule 12",
        services=["search", "calendar"],
        expires_on=on,
    )
    assert sorted(done.services) == ["calendar", "search"]
    # Valid through the chosen day: every page shows the day that was chosen, not the next one.
    assert {a.expires_at.date() for a in Attestation.objects.all()} == {on}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"team": ""}, "selection", "Choose a team, an environment, a tag or services"),
        ({"team": "nobody"}, "team", "No service has the team 'nobody'. In use: commerce"),
        ({"team": "research", "environment": "staging"}, "selection", "No service matches"),
        ({"services": ["notes", "ghost"]}, "services", "No service named 'ghost'"),
        ({"note": "  "}, "note", "A note is required"),
        ({"note": "x" * 4001}, "note", "keep it to 4,000"),
        ({"rule_id": "infrastructure.tls-valid"}, "rule", "only manual rules are attested"),
        ({"expires_on": "yesterday"}, "expires_on", "a date like 2027-01-31"),
        ({"expires_on": "2020-01-01"}, "expires_on", "must be after today"),
        ({"expires_on": "2999-01-01"}, "expires_on", "at most 90 days ahead"),
    ],
)
def test_bad_input_names_the_field_and_attests_nothing(fleet, operator, changes, field, words):
    spec = {"rule_id": RULE, "note": "checked", "team": "platform", **changes}
    with pytest.raises(ValidationError) as caught:
        audit_services.attest_bulk(actor=operator, source="ui", **spec)
    assert field in caught.value.message_dict
    assert words in " ".join(caught.value.message_dict[field])
    assert not Attestation.objects.exists()
    assert not AuditLogEntry.objects.filter(action="attest").exists()


def test_the_form_previews_the_services_then_attests_on_confirm(fleet, operator_client):
    form = {"rule": RULE, "note": "Envoy limits", "environment": "staging"}
    preview = operator_client.post("/audits/attestations/bulk/", form)
    text = preview.content.decode()
    assert preview.status_code == 200
    assert "This attests" in text and "calendar" in text and "inventory" in text
    assert "notes" not in text.split("This attests", 1)[1].split("</section>", 1)[0]
    assert not Attestation.objects.exists()

    # A selection changed after the preview is previewed again, not attested.
    changed = {**form, "environment": "production", "confirm": "yes"}
    changed["previewed"] = "calendar,inventory"
    again = operator_client.post("/audits/attestations/bulk/", changed)
    assert again.status_code == 200 and not Attestation.objects.exists()

    confirmed = {**form, "confirm": "yes", "previewed": "calendar,inventory"}
    done = operator_client.post("/audits/attestations/bulk/", confirmed)
    assert done.status_code == 302
    assert _attested_names() == {"calendar", "inventory"}


def test_the_form_shows_errors_by_field(fleet, operator_client, viewer_client):
    bad = operator_client.post(
        "/audits/attestations/bulk/", {"rule": RULE, "note": "x", "expires_on": "2020-01-01"}
    )
    assert bad.status_code == 422
    text = bad.content.decode()
    assert "must be after today" in text
    assert viewer_client.post(
        "/audits/attestations/bulk/", {"rule": RULE, "note": "x", "team": "platform"}
    ).status_code in (403, 302)
    assert not Attestation.objects.exists()


def _post(client, path: str, body: dict):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_api_bulk_attestation(fleet, operator_client, viewer_client):
    created = _post(
        operator_client,
        "/api/v1/attestations/bulk",
        {"rule": RULE, "note": "Cloud Armor policy", "tag": "flaky"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["services"] == ["inventory"] and body["count"] == 1
    bad = _post(
        operator_client,
        "/api/v1/attestations/bulk",
        {"rule": RULE, "note": "x", "team": "platform", "expires_on": "2020-01-01"},
    )
    assert bad.status_code == 422
    assert "expires_on" in json.dumps(bad.json())
    typo = _post(
        operator_client, "/api/v1/attestations/bulk", {"rule": RULE, "note": "x", "tag": "flakey"}
    )
    assert typo.status_code == 422 and "No service carries the tag 'flakey'" in json.dumps(
        typo.json()
    )
    assert "tag" in json.dumps(typo.json())
    denied = _post(
        viewer_client, "/api/v1/attestations/bulk", {"rule": RULE, "note": "x", "team": "platform"}
    )
    assert denied.status_code == 403
    assert _attested_names() == {"inventory"}


def test_cli_bulk_attestation(fleet):
    out = StringIO()
    call_command("attest", RULE, "--team", "research", "--note", "Envoy 50 rps", stdout=out)
    assert "Attested security.rate-limiting for 1 service: search" in out.getvalue()
    assert AuditLogEntry.objects.filter(action="attest", source="cli").count() == 1
    with pytest.raises(CommandError, match="expires"):
        call_command("attest", RULE, "--team", "research", "--note", "x", "--expires", "soon")
    with pytest.raises(CommandError, match="tag: No service carries the tag 'flakey'"):
        call_command("attest", RULE, "--tag", "flakey", "--note", "x")
    with pytest.raises(CommandError, match="note: A note is required"):
        call_command("attest", RULE, "--tag", "flaky", "--note", " ")
    assert Service.objects.count() == 5


def test_the_form_attests_a_tag_until_the_chosen_day_and_names_a_typo_in_the_tag(
    fleet, operator_client, admin_client_
):
    """As a user: a tag with an expiry date reads back as the chosen day on the preview, the
    confirmation and the attestations page; a tag nobody carries is an error on the tag field."""
    on = (timezone.now() + timedelta(days=20)).date()
    day = f"{on.day} {on:%b %Y}"
    form = {"rule": RULE, "note": "Cloud Armor", "tag": "flaky", "expires_on": on.isoformat()}
    preview = operator_client.post("/audits/attestations/bulk/", form).content.decode()
    assert "valid until <time" in preview and f"{day}, 23:59 UTC</time>" in preview
    confirmed = {**form, "confirm": "yes", "previewed": "inventory"}
    done = operator_client.post("/audits/attestations/bulk/", confirmed, follow=True)
    assert f"valid until {day}, 23:59 UTC" in done.content.decode()
    listing = operator_client.get("/audits/attestations/").content.decode()
    assert day in listing
    after = on + timedelta(days=1)
    assert f"{after.day} {after:%b %Y}" not in listing

    # The audit log shows the expiry as a time, not as stored ISO text.
    log = admin_client_.get("/audit-log/?action=attest").content.decode()
    assert f"→ {on.isoformat()}T" not in log and "23:59 UTC</time>" in log

    typo = {**form, "tag": "flakey"}
    bad = operator_client.post("/audits/attestations/bulk/", typo)
    assert bad.status_code == 422
    text = bad.content.decode()
    field = text.split('for="id_tag"', 1)[1].split("</div>", 1)[0]
    assert "No service carries the tag &#x27;flakey&#x27;" in field and "flaky" in field
    assert _attested_names() == {"inventory"}
