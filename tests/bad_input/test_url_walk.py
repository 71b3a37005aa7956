"""Every URL in the URLconf, every method, every role: no 5xx, and access exactly as ACCESS says.

The routes come from the URLconf itself (ninja's API routes included), so a new view that is not in
ACCESS fails `test_every_route_has_an_access_entry`, and one whose checks do not match its entry
fails the walk. Path values come from a fixture fleet with one object of every kind.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.bad_input.urlwalk import Route, all_routes, url_for
from tests.bad_input.walk_support import path_values

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RANK = {"viewer": 0, "operator": 1, "admin": 2}
V, OP, A = "viewer", "operator", "admin"

# Open to anyone, logged in or not (anything but a 5xx is fine there).
PUBLIC = {"healthz", "login/", "favicon.ico"}
# Outside the API, anonymous callers are sent to the login page, except these, which answer 401
# (or 405 for a method they never take).
ANONYMOUS_401 = {"metrics"}

# The least role that may use each method of each route; a method not listed is refused to all
# (403, 404 or 405). Keep this in step with the README's role table.
ACCESS: dict[str, dict[str, str]] = {
    "": {"GET": V},
    "healthz": {"GET": V},
    "favicon.ico": {"GET": V},
    "metrics": {"GET": V},
    "login/": {"GET": V, "POST": V},
    "logout/": {"POST": V},
    "services/new/": {"GET": OP, "POST": OP},
    "services/<str:name>/": {"GET": V},
    "services/<str:name>/edit/": {"GET": OP, "POST": OP},
    "services/<str:name>/delete/": {"POST": OP},
    "dependencies/": {"GET": V},
    "accounts/": {"GET": V},
    "accounts/new/": {"GET": OP, "POST": OP},
    "accounts/<str:name>/edit/": {"GET": OP, "POST": OP},
    "accounts/<str:name>/delete/": {"POST": OP},
    "fleet-file/": {"GET": V, "POST": OP},
    "fleet-file/fleet.yaml": {"GET": V},
    "jobs/<int:pk>/": {"GET": V},
    "audit-log/": {"GET": A},
    "tokens/": {"GET": V},
    "tokens/new/": {"POST": V},
    "tokens/<int:pk>/delete/": {"POST": V},  # one's own tokens only (others: 404)
    "views/": {"GET": V, "POST": V},  # saved views are personal: every role keeps its own
    "views/<int:pk>/delete/": {"POST": V},  # one's own (admins: shared ones too; others: 404)
    "incidents/": {"GET": V},
    "services/<str:name>/health/status/": {"GET": V},
    "services/<str:name>/health/latency/": {"GET": V},
    "services/<str:name>/check/": {"POST": OP},
    "services/<str:name>/check/<int:job_id>/": {"GET": V},
    "services/<str:name>/checks/settings/": {"GET": OP, "POST": OP},
    "services/<str:name>/drift/<int:pk>/accept/": {"POST": OP},
    "audits/": {"GET": V},
    "audits/run/": {"POST": OP},
    "audits/runs/": {"GET": V},
    "audits/runs/<int:pk>/": {"GET": V},
    r"^audits/runs/(?P<pk>[0-9]+)\.(?P<ext>json|csv|md)$": {"GET": V},
    "audits/diff": {"GET": V},
    "audits/services/<str:name>/": {"GET": V},
    "audits/services/<str:name>/run/": {"POST": OP},
    "audits/services/<str:name>/attest/": {"POST": OP},
    "audits/attestations/": {"GET": V, "POST": OP},
    "audits/attestations/<int:pk>/revoke/": {"POST": OP},
    "audits/settings/": {"GET": A, "POST": A},
    "audits/settings/rules/<str:rule_id>/": {"POST": A},
    "audits/settings/custom/": {"POST": A},
    "audits/settings/custom/<int:pk>/delete/": {"POST": A},
    "services/<str:name>/redeploy/": {"GET": OP, "POST": OP},
    "services/<str:name>/scaling/": {"GET": OP, "POST": OP},
    "services/<str:name>/scaling/apply/": {"POST": OP},
    "services/<str:name>/cloud/refresh/": {"POST": OP},
    "services/<str:name>/release/": {"GET": OP, "POST": OP},
    "services/<str:name>/revisions/": {"GET": V},
    "services/<str:name>/rollback/": {"POST": OP},
    "releases/batch/": {"GET": OP, "POST": OP},
    "audits/attestations/bulk/": {"GET": OP, "POST": OP},
    "redeploys/": {"GET": V},
    "redeploys/batch/": {"POST": OP},
    "redeploys/batches/<int:pk>/": {"GET": V},
    "redeploys/<int:pk>/": {"GET": V},
    "accounts/<str:name>/discover/": {"GET": V, "POST": OP},
    "budgets/": {"GET": V},
    "budgets/new/": {"GET": OP, "POST": OP},
    "budgets/ingest/": {"POST": OP},
    "budgets/costs.csv": {"GET": V},
    "budgets/<int:pk>/": {"GET": V},
    "budgets/<int:pk>/edit/": {"GET": OP, "POST": OP},
    "budgets/<int:pk>/delete/": {"POST": OP},
    "budgets/<int:pk>/sync/": {"POST": OP},
    "services/<str:name>/cost-estimate/": {"GET": V},
    "alerts/": {"GET": V},
    "alerts/<int:pk>/resolve/": {"POST": OP},
    "alerts/<int:pk>/acknowledge/": {"POST": OP},
    "alerts/<int:pk>/withdraw-acknowledgement/": {"POST": OP},
    "alerts/groups/<int:pk>/": {"GET": V},
    "alerts/groups/<int:pk>/acknowledge/": {"POST": OP},
    "alerts/groups/<int:pk>/withdraw-acknowledgement/": {"POST": OP},
    "alerts/channels/": {"GET": V},
    "alerts/channels/new/": {"GET": OP, "POST": OP},
    "alerts/channels/<str:name>/edit/": {"GET": OP, "POST": OP},
    "alerts/channels/<str:name>/delete/": {"POST": OP},
    "alerts/channels/<str:name>/test/": {"POST": OP},
    "alerts/deliveries/<int:pk>/": {"GET": V},
    "alerts/silences/": {"GET": V},
    "alerts/silences/new/": {"POST": OP},
    "alerts/silences/<int:pk>/end/": {"POST": OP},
    # The JSON API (bearer tokens).
    "api/v1/openapi.json": {"GET": V},
    "api/v1/docs": {"GET": V},
    "api/v1/": {},
    "api/v1/services": {"GET": V, "POST": OP},
    "api/v1/services/<name>": {"GET": V, "PUT": OP, "PATCH": OP, "DELETE": OP},
    "api/v1/services/<name>/dependents": {"GET": V},
    "api/v1/accounts": {"GET": V, "POST": OP},
    "api/v1/accounts/<name>": {"GET": V, "PUT": OP, "DELETE": OP},
    "api/v1/services/<name>/health": {"GET": V},
    "api/v1/services/<name>/check": {"POST": OP},
    "api/v1/services/<name>/checks/settings": {"GET": V, "PATCH": OP},
    "api/v1/services/<name>/tools": {"GET": V},
    "api/v1/services/<name>/drift": {"GET": V},
    "api/v1/services/<name>/tools/accept": {"POST": OP},
    "api/v1/incidents": {"GET": V},
    "api/v1/services/<name>/redeploy": {"POST": OP},
    "api/v1/redeploys/<redeploy_id>": {"GET": V},
    "api/v1/services/<name>/scaling": {"GET": V, "PUT": OP},
    "api/v1/services/<name>/scaling/apply": {"POST": OP},
    "api/v1/accounts/<name>/discover": {"GET": V, "POST": OP},
    "api/v1/services/<name>/cloud/refresh": {"POST": OP},
    "api/v1/redeploy-batches": {"POST": OP},
    "api/v1/services/<name>/releases": {"GET": V, "POST": OP},
    "api/v1/releases/<release_id>": {"GET": V},
    "api/v1/services/<name>/rollback": {"POST": OP},
    "api/v1/services/<name>/revisions": {"GET": V},
    "api/v1/release-batches": {"POST": OP},
    "api/v1/attestations/bulk": {"POST": OP},
    "api/v1/redeploy-batches/<batch_id>": {"GET": V},
    "api/v1/audits": {"GET": V, "POST": OP},
    "api/v1/audits/<run_id>": {"GET": V},
    "api/v1/audits/<run_id>/export": {"GET": V},
    "api/v1/services/<name>/attestations": {"POST": OP},
    "api/v1/budgets": {"GET": V, "POST": OP},
    "api/v1/budgets/<budget_id>": {"GET": V, "PUT": OP, "DELETE": OP},
    "api/v1/budgets/<budget_id>/sync": {"POST": OP},
    "api/v1/services/<name>/cost-estimate": {"GET": V},
    "api/v1/services/<name>/cost": {"GET": V},
    "api/v1/alerts/channels": {"GET": V, "POST": OP},
    "api/v1/alerts/channels/<name>": {"GET": V, "PUT": OP, "DELETE": OP},
    "api/v1/alerts/channels/<name>/test": {"POST": OP},
    "api/v1/alerts/deliveries/<delivery_id>": {"GET": V},
    "api/v1/alerts": {"GET": V},
    "api/v1/alerts/<alert_id>/acknowledge": {"POST": OP},
    "api/v1/alerts/<alert_id>/withdraw-acknowledgement": {"POST": OP},
    "api/v1/alerts/groups": {"GET": V},
    "api/v1/alerts/groups/<group_id>/acknowledge": {"POST": OP},
    "api/v1/alerts/groups/<group_id>/withdraw-acknowledgement": {"POST": OP},
    "api/v1/alerts/silences": {"GET": V, "POST": OP},
    "api/v1/alerts/silences/<silence_id>/end": {"POST": OP},
    "api/v1/saved-views": {"GET": V, "POST": OP},
    "api/v1/saved-views/<view_id>": {"DELETE": OP},
}

ROUTES = all_routes()


def test_every_route_has_an_access_entry():
    missing = sorted(r.pattern for r in ROUTES if r.pattern not in ACCESS)
    assert not missing, f"routes without an ACCESS entry (say who may use them): {missing}"
    stale = sorted(set(ACCESS) - {r.pattern for r in ROUTES})
    assert not stale, f"ACCESS entries for routes that no longer exist: {stale}"


def _clients(route: Route, users: dict, fleet) -> dict[str, Client]:
    """One client per role: a bearer token for the API, a session for pages."""
    is_api = route.pattern.startswith("api/")
    clients = {"anonymous": Client()}
    for role, user in users.items():
        if is_api:
            clients[role] = Client(HTTP_AUTHORIZATION=f"Bearer {fleet.tokens[user.username][1]}")
        else:
            clients[role] = Client()
            clients[role].force_login(user)
    return clients


def _request(route: Route, client: Client, url: str, method: str):
    call = getattr(client, method.lower())
    if method == "GET":
        return call(url)
    if route.pattern.startswith("api/"):
        return call(url, "{}", content_type="application/json")
    return call(url)


def _expect_anonymous(route: Route, method: str, response) -> None:
    where = f"anonymous {method} /{route.pattern}"
    if route.pattern in PUBLIC:
        assert response.status_code < 500, where
    elif route.pattern.startswith("api/"):
        assert response.status_code == 401, f"{where}: {response.status_code}"
    elif route.pattern in ANONYMOUS_401:
        assert response.status_code in (401, 405), f"{where}: {response.status_code}"
    else:
        assert response.status_code == 302, f"{where}: {response.status_code}"
        assert response["Location"].startswith("/login/"), where


def _expect_role(route: Route, method: str, role: str, response) -> None:
    where = f"{role} {method} /{route.pattern} -> {response.status_code}"
    assert response.status_code < 500, where
    if route.pattern in PUBLIC:
        return
    needed = ACCESS[route.pattern].get(method)
    if needed is not None and RANK[role] >= RANK[needed]:
        assert response.status_code not in (401, 403), f"{where}: should be allowed"
        if route.pattern != "logout/":  # logging out lands on the login page
            assert not response.get("Location", "").startswith("/login/"), where
    else:
        assert response.status_code in (403, 404, 405), f"{where}: should be refused"


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_url_walk(route, fleet, viewer, operator, admin_user):
    if route.pattern not in ACCESS:
        pytest.fail(f"/{route.pattern} has no ACCESS entry")
    users = {"viewer": viewer, "operator": operator, "admin": admin_user}
    clients = _clients(route, users, fleet)
    url = url_for(route, path_values(route, fleet, fleet.tokens["otto"][0].pk))
    for method in METHODS:
        if route.pattern == "logout/":  # each logout ends the session the next method needs
            clients = _clients(route, users, fleet)
        _expect_anonymous(route, method, _request(route, clients["anonymous"], url, method))
        for role in users:
            _expect_role(route, method, role, _request(route, clients[role], url, method))
