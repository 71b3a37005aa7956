"""Path values for the URL walk, taken from the fixture fleet by parameter and route."""

from __future__ import annotations

from tests.bad_input.urlwalk import Route


def path_values(route: Route, fleet, token_pk: int) -> dict:
    """Concrete values for every path parameter the walk can meet; a new kind fails loudly."""
    pattern = route.pattern
    if "accounts/<" in pattern:
        name = fleet.account.name
    elif "channels/<" in pattern:
        name = fleet.channel.name
    else:
        name = fleet.service.name
    by_prefix = [
        ("jobs/", fleet.job.pk),
        ("views/", fleet.saved_view.pk),
        ("tokens/", token_pk),
        ("audits/runs/", fleet.run.pk),
        ("audits/attestations/", fleet.attestation.pk),
        ("audits/settings/custom/", fleet.custom_rule.pk),
        ("redeploys/batches/", fleet.batch.pk),
        ("redeploys/", fleet.redeploy.pk),
        ("budgets/", fleet.budget.pk),
        ("alerts/deliveries/", fleet.delivery.pk),
        ("alerts/silences/", fleet.silence.pk),
        ("alerts/groups/", fleet.alert.group_id),
        ("alerts/", fleet.alert.pk),
        ("services/<str:name>/drift/", fleet.drift.pk),
    ]
    pk = next(
        (value for prefix, value in by_prefix if pattern.lstrip("^").startswith(prefix)), None
    )
    values = {
        "name": name,
        "pk": pk,
        "ext": "json",
        "job_id": fleet.job.pk,
        "rule_id": "infrastructure.separate-mcp-service",
        "redeploy_id": fleet.redeploy.pk,
        "release_id": fleet.redeploy.pk,
        "batch_id": fleet.batch.pk,
        "run_id": fleet.run.pk,
        "budget_id": fleet.budget.pk,
        "delivery_id": fleet.delivery.pk,
        "silence_id": fleet.silence.pk,
        "alert_id": fleet.alert.pk,
        "group_id": fleet.alert.group_id,
        "view_id": fleet.saved_view.pk,
    }
    missing = [p for p in route.params if values.get(p) is None]
    assert not missing, f"{route}: the walk has no value for {missing}; add one to path_values()"
    return {p: values[p] for p in route.params}
