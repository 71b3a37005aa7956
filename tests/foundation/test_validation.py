"""The registry's rules, as the service layer enforces them for every way in."""

import pytest
from django.core.exceptions import ValidationError

from fleet import services as fleet_services
from fleet.models import Service
from fleet.validation import find_cycle
from tests.factories import CloudAccountFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def save(spec, instance=None):
    return fleet_services.save_service(actor="test", source="cli", spec=spec, instance=instance)


def errors_of(exc_info) -> dict:
    return exc_info.value.message_dict


def test_service_is_registered_with_defaults():
    service = save({"name": "notes", "url": "https://notes.example.com/mcp"})
    assert service.kind == "mcp_server"
    assert service.transport == "streamable-http"
    assert service.status == "unknown"


@pytest.mark.parametrize(
    "url", ["ftp://host/mcp", "file:///etc/passwd", "javascript:alert(1)", "notes"]
)
def test_bad_url_scheme_names_the_field(url):
    with pytest.raises(ValidationError) as exc:
        save({"name": "notes", "url": url})
    assert "url" in errors_of(exc)
    assert "http or https" in errors_of(exc)["url"][0]


def test_duplicate_name_is_refused():
    save({"name": "notes", "url": "https://a.example.com/mcp"})
    with pytest.raises(ValidationError) as exc:
        save({"name": "notes", "url": "https://b.example.com/mcp"})
    assert "already exists" in errors_of(exc)["name"][0]


@pytest.mark.parametrize("name", ["Notes", "has space", "-lead", ""])
def test_bad_names_are_refused(name):
    with pytest.raises(ValidationError) as exc:
        save({"name": name, "url": "https://a.example.com/mcp"})
    assert "name" in errors_of(exc)


@pytest.mark.parametrize(
    ("provider", "fields", "good", "bad"),
    [
        (
            "gcp",
            {"project": "my-project-1", "region": "us-central1"},
            "notes-mcp-server",
            "Notes_Server",
        ),
        ("aws", {"region": "us-east-1", "cluster": "mcp"}, "notes_mcp-1", "1-starts-with-digit"),
        ("azure", {"subscription": "sub", "resource_group": "rg"}, "notes-app", "double--dash"),
        ("kubernetes", {"namespace": "mcp"}, "notes.v2", "UPPER"),
    ],
)
def test_resource_ids_must_fit_the_provider(provider, fields, good, bad):
    account = CloudAccountFactory(
        name=f"{provider}-acct", provider=provider, **{"project": "", "region": "", **fields}
    )
    save(
        {"name": "good", "url": "https://a.example.com", "account": account.name, "resource": good}
    )
    with pytest.raises(ValidationError) as exc:
        save(
            {
                "name": "bad",
                "url": "https://a.example.com",
                "account": account.name,
                "resource": bad,
            }
        )
    assert "resource" in errors_of(exc)
    assert bad in errors_of(exc)["resource"][0]


def test_resource_without_account_is_refused():
    with pytest.raises(ValidationError) as exc:
        save({"name": "x", "url": "https://a.example.com", "resource": "notes"})
    assert "cloud account" in errors_of(exc)["resource"][0]


def test_unknown_account_is_named():
    with pytest.raises(ValidationError) as exc:
        save({"name": "x", "url": "https://a.example.com", "account": "nope"})
    assert errors_of(exc)["account"] == ["No cloud account named 'nope'."]


def test_account_needs_its_provider_fields():
    with pytest.raises(ValidationError) as exc:
        fleet_services.save_account(
            actor="t", source="cli", spec={"name": "p", "provider": "gcp", "region": "us-central1"}
        )
    assert "project" in errors_of(exc)


def test_account_region_must_look_like_the_providers():
    with pytest.raises(ValidationError) as exc:
        fleet_services.save_account(
            actor="t",
            source="cli",
            spec={"name": "p", "provider": "aws", "region": "europe", "cluster": "c"},
        )
    assert "AWS region" in errors_of(exc)["region"][0]


def test_self_dependency_is_refused():
    save({"name": "agent", "kind": "agent_backend", "url": "https://agent.example.com"})
    with pytest.raises(ValidationError) as exc:
        save(
            {
                "name": "agent",
                "kind": "agent_backend",
                "url": "https://agent.example.com",
                "depends_on": ["agent"],
            },
            instance=Service.objects.get(name="agent"),
        )
    assert "itself" in errors_of(exc)["depends_on"][0]


def test_dependency_cycle_is_refused_and_named():
    ServiceFactory(name="a", kind="agent_backend")
    ServiceFactory(name="b", kind="agent_backend")
    a = save(
        {"name": "a", "kind": "agent_backend", "url": "https://a.example.com", "depends_on": ["b"]},
        instance=Service.objects.get(name="a"),
    )
    assert [s.name for s in a.dependencies.all()] == ["b"]

    with pytest.raises(ValidationError) as exc:
        save(
            {
                "name": "b",
                "kind": "agent_backend",
                "url": "https://b.example.com",
                "depends_on": ["a"],
            },
            instance=Service.objects.get(name="b"),
        )
    assert "cycle" in errors_of(exc)["depends_on"][0]
    assert (
        "a → b → a" in errors_of(exc)["depends_on"][0]
        or "b → a → b" in errors_of(exc)["depends_on"][0]
    )
    assert list(Service.objects.get(name="b").dependencies.all()) == []


def test_mcp_servers_cannot_have_dependencies():
    ServiceFactory(name="notes")
    with pytest.raises(ValidationError) as exc:
        save({"name": "search", "url": "https://s.example.com", "depends_on": ["notes"]})
    assert "agent backends" in errors_of(exc)["depends_on"][0]


def test_find_cycle_on_long_chains():
    edges = {f"n{i}": [f"n{i + 1}"] for i in range(2000)}
    assert find_cycle(edges) is None
    edges["n2000"] = ["n0"]
    cycle = find_cycle(edges)
    assert cycle[0] == cycle[-1] and len(cycle) == 2002


def test_failed_update_leaves_the_stored_row_intact():
    service = save({"name": "notes", "url": "https://notes.example.com/mcp", "team": "platform"})
    with pytest.raises(ValidationError):
        save({"name": "notes", "url": "gopher://x", "team": "other"}, instance=service)
    service.refresh_from_db()
    assert service.url == "https://notes.example.com/mcp"
    assert service.team == "platform"
