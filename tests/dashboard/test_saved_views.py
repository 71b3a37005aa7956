"""Saved views: save the dashboard's filter + sort under a name, reopen, share, delete; every bad
input refused naming its field (form and API); each save and delete is an audit-log row."""

from __future__ import annotations

from html import unescape

import pytest

from console.models import AuditLogEntry
from console.tokens import issue_token
from fleet.saved_views.models import SavedView
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    ServiceFactory(name="notes", team="platform", tags=["pci"], last_latency_ms=40)
    ServiceFactory(name="search", team="platform", last_latency_ms=400)
    ServiceFactory(name="chat", team="research", tags=["pci"])


def save(client, name="platform slow first", query="team=platform&sort=-latency", **extra):
    return client.post("/views/", {"name": name, "query": query, **extra})


def test_saving_keeps_the_filter_and_sort_and_opens_the_view(viewer_client, viewer, fleet):
    response = save(viewer_client, query="sort=-latency&page=3&team=platform&tag=pci")
    view = SavedView.objects.get()
    assert response.status_code == 302
    # Canonical: known filters in a fixed order, the page dropped.
    assert view.query == "team=platform&tag=pci&sort=-latency"
    assert response["Location"] == "/?team=platform&tag=pci&sort=-latency"
    assert (view.owner, view.name, view.shared) == (viewer, "platform slow first", False)

    html = viewer_client.get(response["Location"]).content.decode()
    assert ">notes</a>" in html and ">search</a>" not in html
    assert '<a href="/?team=platform&amp;tag=pci&amp;sort=-latency">platform slow first</a>' in html


def test_saving_writes_an_audit_row(viewer_client, viewer, fleet):
    save(viewer_client, shared="on")
    entry = AuditLogEntry.objects.get(object_type="savedview")
    assert (entry.actor, entry.action, entry.source) == (viewer, "create", "ui")
    assert entry.after == {
        "name": "platform slow first",
        "query": "team=platform&sort=-latency",
        "shared": True,
    }


def test_the_save_form_carries_the_current_query_and_follows_htmx_changes(
    viewer_client, fleet, htmx_headers
):
    html = viewer_client.get("/?team=platform&sort=-latency&page=1").content.decode()
    assert (
        '<input type="hidden" id="save-view-query" name="query" '
        'value="team=platform&amp;sort=-latency">' in html
    )
    fragment = viewer_client.get("/?tag=pci&sort=name", **htmx_headers).content.decode()
    assert (
        '<input type="hidden" id="save-view-query" name="query" value="tag=pci&amp;sort=name" '
        'hx-swap-oob="true">' in fragment
    )


def test_views_are_private_unless_shared(viewer_client, viewer, operator, fleet):
    SavedView.objects.create(owner=operator, name="ops private", query="team=research")
    SavedView.objects.create(owner=operator, name="ops shared", query="tag=pci", shared=True)
    SavedView.objects.create(owner=viewer, name="mine", query="")
    listing = viewer_client.get("/views/").content.decode()
    dashboard = viewer_client.get("/").content.decode()
    for html in (listing, dashboard):
        assert ">mine</a>" in html and ">ops shared</a>" in html
        assert "ops private" not in html
    assert "shared by otto" in dashboard


def test_the_owner_deletes_a_view_and_the_audit_log_says_so(viewer_client, viewer):
    view = SavedView.objects.create(owner=viewer, name="mine", query="team=platform")
    response = viewer_client.post(f"/views/{view.pk}/delete/")
    assert response.status_code == 302 and not SavedView.objects.exists()
    entry = AuditLogEntry.objects.get(action="delete", object_type="savedview")
    assert entry.actor == viewer and entry.object_id == str(view.pk)
    assert entry.before == {"name": "mine", "query": "team=platform", "shared": False}


@pytest.mark.parametrize("shared", [False, True])
def test_others_cannot_delete_a_view_they_do_not_own(operator_client, viewer, shared):
    view = SavedView.objects.create(owner=viewer, name="theirs", query="", shared=shared)
    assert operator_client.post(f"/views/{view.pk}/delete/").status_code == 404
    assert SavedView.objects.filter(pk=view.pk).exists()
    assert not AuditLogEntry.objects.filter(object_type="savedview").exists()


def test_an_admin_may_tidy_away_a_shared_view_but_not_a_private_one(admin_client_, viewer):
    shared = SavedView.objects.create(owner=viewer, name="noise", query="", shared=True)
    private = SavedView.objects.create(owner=viewer, name="own", query="")
    assert admin_client_.post(f"/views/{private.pk}/delete/").status_code == 404
    assert admin_client_.post(f"/views/{shared.pk}/delete/").status_code == 302
    assert list(SavedView.objects.all()) == [private]
    assert AuditLogEntry.objects.get(action="delete").detail == "owner vera"


BAD_INPUT = [
    ({"name": ""}, "name", "Name is required"),
    ({"name": "   "}, "name", "Name is required"),
    ({"name": "x" * 61}, "name", "Name is 61 characters long; at most 60 are allowed."),
    ({"name": "a<b>"}, "name", "Name cannot contain '<'"),
    ({"name": "-dash first"}, "name", "Name must start with a letter or digit"),
    ({"name": "two\nlines"}, "name", "Name cannot contain U+000A"),
    ({"query": "colour=red"}, "query", "'colour' is not a dashboard filter"),
    ({"query": "sort=colour"}, "query", "sort: 'colour' is not a column"),
    ({"query": "status=sideways"}, "query", "status: Select a valid choice"),
    ({"query": "tag=two words"}, "query", "tag: Invalid tag 'two words'"),
    ({"query": "q=%01"}, "query", "Query values cannot contain control characters."),
    ({"query": "q=" + "a" * 2000}, "query", "at most 2000 are allowed"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_INPUT)
def test_bad_input_in_the_form_is_refused_naming_the_field(viewer_client, change, field, message):
    values = {"name": "ok", "query": "team=platform", **change}
    response = viewer_client.post("/views/", values)
    html = response.content.decode()
    assert response.status_code == 422
    assert f'id="view-{field}-error" role="alert">' in html
    error = html.split(f'id="view-{field}-error" role="alert">')[1].split("</p>")[0]
    assert message in unescape(error)
    assert not SavedView.objects.exists()
    assert not AuditLogEntry.objects.filter(object_type="savedview").exists()


def test_a_second_view_with_the_same_name_is_refused(viewer_client, viewer):
    SavedView.objects.create(owner=viewer, name="Platform", query="")
    response = save(viewer_client, name="platform")
    assert response.status_code == 422
    assert "You already have a view named" in response.content.decode()
    assert SavedView.objects.count() == 1


def test_the_same_name_is_fine_for_another_user(viewer_client, operator):
    SavedView.objects.create(owner=operator, name="platform", query="")
    assert save(viewer_client, name="platform").status_code == 302


def test_one_person_keeps_at_most_100_views(viewer_client, viewer):
    SavedView.objects.bulk_create(
        SavedView(owner=viewer, name=f"v{i}", query="") for i in range(100)
    )
    response = save(viewer_client, name="one more")
    assert response.status_code == 422
    assert "You have 100 saved views, the most allowed" in response.content.decode()


# -- the API -----------------------------------------------------------------------------------
@pytest.fixture
def api(client, operator):
    # Every change over the API needs the operator role (console.access); viewers save in the UI.
    _, raw = issue_token(operator, "t")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client


def test_the_api_saves_lists_and_deletes_views(api):
    created = api.post(
        "/api/v1/saved-views",
        {"name": "pci", "query": "?tag=pci&sort=name", "shared": True},
        content_type="application/json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body["query"] == "tag=pci" and body["url"] == "/?tag=pci" and body["owner"] == "otto"
    assert [v["name"] for v in api.get("/api/v1/saved-views").json()] == ["pci"]
    assert api.delete(f"/api/v1/saved-views/{body['id']}").status_code == 204
    actions = list(
        AuditLogEntry.objects.filter(object_type="savedview").values_list("action", "source")
    )
    assert sorted(actions) == [("create", "api"), ("delete", "api")]


API_BAD_INPUT = [
    *[({**{"name": "ok", "query": ""}, **change}, field, msg) for change, field, msg in BAD_INPUT],
    ({"query": ""}, "name", "Field required"),
    ({"name": 5, "query": ""}, "name", "Input should be a valid string"),
    ({"name": "ok", "query": ["team=x"]}, "query", "Input should be a valid string"),
    ({"name": "ok", "shared": "maybe"}, "shared", "Input should be a valid boolean"),
]


@pytest.mark.parametrize(("payload", "field", "message"), API_BAD_INPUT)
def test_bad_input_in_the_api_is_refused_naming_the_field(api, payload, field, message):
    response = api.post("/api/v1/saved-views", payload, content_type="application/json")
    assert response.status_code == 422
    details = response.json()["detail"]
    mine = [d["msg"] for d in details if d["loc"][-1] == field]
    assert mine and message in mine[0], details
    assert not SavedView.objects.exists()


def test_the_api_cannot_delete_someone_elses_view(api, viewer):
    view = SavedView.objects.create(owner=viewer, name="ops", query="", shared=True)
    assert api.delete(f"/api/v1/saved-views/{view.pk}").status_code == 404
    assert SavedView.objects.filter(pk=view.pk).exists()
