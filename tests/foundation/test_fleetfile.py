"""The fleet file: idempotent upsert in one transaction, dry runs, errors naming entry and field."""

import io
import textwrap

import pytest
import yaml
from django.core.management import CommandError, call_command

from fleet.fleetfile import FleetFileError, export_fleet, import_fleet
from fleet.models import CloudAccount, Service

pytestmark = pytest.mark.django_db

FLEET = textwrap.dedent("""
    accounts:
      - name: prod-gcp
        provider: gcp
        project: my-project
        region: us-central1
      - name: prod-aws
        provider: aws
        region: us-east-1
        cluster: mcp-cluster
        endpoint: http://127.0.0.1:5000
      - name: edge-k8s
        provider: kubernetes
        namespace: mcp
    services:
      - name: notes
        kind: mcp_server
        url: https://notes-mcp-xyz.a.run.app/mcp
        transport: streamable-http
        account: prod-gcp
        resource: notes-mcp-server
        environment: production
        team: platform
        tags: [notes]
      - name: chatbot
        kind: agent_backend
        url: https://agent-backend.example.com
        depends_on: [notes]
""")


def run(*args) -> str:
    out = io.StringIO()
    call_command("fleet", *args, stdout=out)
    return out.getvalue()


def test_import_creates_everything_and_is_idempotent(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    first = run("import", str(path))
    assert "3 created" not in first  # accounts and services are counted together
    assert "5 created, 0 updated, 0 unchanged" in first
    assert Service.objects.get(name="chatbot").dependencies.get().name == "notes"
    second = run("import", str(path))
    assert "0 created, 0 updated, 5 unchanged" in second


def test_export_round_trips(tmp_path):
    import_fleet(FLEET, actor="t")
    exported = export_fleet()
    data = yaml.safe_load(exported)
    assert [a["name"] for a in data["accounts"]] == ["edge-k8s", "prod-aws", "prod-gcp"]
    notes = next(s for s in data["services"] if s["name"] == "notes")
    assert notes["resource"] == "notes-mcp-server" and notes["tags"] == ["notes"]
    report = import_fleet(exported, actor="t")
    assert report.created == [] and report.updated == []


def test_dry_run_prints_the_diff_and_changes_nothing(tmp_path):
    import_fleet(FLEET, actor="t")
    changed = FLEET.replace("team: platform", "team: search")
    path = tmp_path / "f.yaml"
    path.write_text(changed)
    out = run("import", str(path), "--dry-run")
    assert "~ service notes: team: 'platform' → 'search'" in out
    assert "Dry run, nothing changed" in out
    assert Service.objects.get(name="notes").team == "platform"


def test_a_file_with_any_error_changes_nothing_and_names_entry_and_field(tmp_path):
    bad = FLEET.replace(
        "url: https://agent-backend.example.com", "url: ftp://agent-backend.example.com"
    )
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    with pytest.raises(CommandError) as exc:
        run("import", str(path))
    assert "services[1] (chatbot): url: URL scheme must be http or https (got ftp)." in str(
        exc.value
    )
    assert "nothing changed" in str(exc.value)
    assert not Service.objects.exists() and not CloudAccount.objects.exists()


def test_an_error_in_an_update_keeps_the_stored_fleet(tmp_path):
    import_fleet(FLEET, actor="t")
    bad = FLEET.replace("team: platform", "team: search").replace(
        "depends_on: [notes]", "depends_on: [ghost]"
    )
    with pytest.raises(FleetFileError) as exc:
        import_fleet(bad, actor="t")
    assert exc.value.errors == ["services[1] (chatbot): depends_on: No service named 'ghost'."]
    assert Service.objects.get(name="notes").team == "platform"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda t: t.replace("resource: notes-mcp-server", "resource: Notes_Server"),
            "services[0] (notes): resource:",
        ),
        (
            lambda t: t.replace("provider: aws", "provider: ibm"),
            "accounts[1] (prod-aws): provider:",
        ),
        (
            lambda t: t.replace("    depends_on: [notes]", "    depends_on: [chatbot]"),
            "services[1] (chatbot): depends_on:",
        ),
        (
            lambda t: t.replace("    tags: [notes]", "    tags: [notes]\n    colour: blue"),
            "services[0] (notes): colour: unknown field.",
        ),
        (
            lambda t: t + "  - name: notes\n    url: https://x.example.com\n",
            "services[2] (notes): name: 'notes' already appears",
        ),
        (
            lambda t: t.replace("    project: my-project\n", ""),
            "accounts[0] (prod-gcp): project: Required for gcp accounts.",
        ),
    ],
)
def test_each_kind_of_bad_entry(mutate, expected):
    with pytest.raises(FleetFileError) as exc:
        import_fleet(mutate(FLEET), actor="t")
    assert any(e.startswith(expected) for e in exc.value.errors), exc.value.errors


def test_cycle_across_entries_is_refused():
    text = textwrap.dedent("""
        services:
          - {name: a, kind: agent_backend, url: "https://a.example.com", depends_on: [b]}
          - {name: b, kind: agent_backend, url: "https://b.example.com", depends_on: [a]}
    """)
    with pytest.raises(FleetFileError) as exc:
        import_fleet(text, actor="t")
    assert "cycle" in exc.value.errors[0]
    assert not Service.objects.exists()


def test_not_yaml_is_a_clear_error(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("services: [ {name: ")
    with pytest.raises(CommandError, match="Not valid YAML"):
        run("import", str(path))


def test_missing_file_is_named():
    with pytest.raises(CommandError, match="does-not-exist.yaml does not exist"):
        run("import", "does-not-exist.yaml")


def test_export_prints_yaml_to_stdout():
    import_fleet(FLEET, actor="t")
    assert yaml.safe_load(run("export"))["services"][0]["name"] == "chatbot"


def test_budgets_section_round_trips():
    text = FLEET + textwrap.dedent("""
        budgets:
          - {name: notes-monthly, scope: service, scope_value: notes, amount: "100", currency: USD}
    """)
    import_fleet(text, actor="t")
    exported = yaml.safe_load(export_fleet())
    assert exported["budgets"][0]["name"] == "notes-monthly"
    report = import_fleet(export_fleet(), actor="t")
    assert report.created == [] and report.updated == []


def test_a_bad_budget_rolls_back_the_whole_file():
    text = FLEET + textwrap.dedent("""
        budgets:
          - {name: broke, scope: service, scope_value: notes, amount: "-5", currency: USD}
    """)
    with pytest.raises(FleetFileError) as exc:
        import_fleet(text, actor="t")
    assert any(e.startswith("budgets[0] (broke): amount") for e in exc.value.errors), (
        exc.value.errors
    )
    assert not Service.objects.exists()
