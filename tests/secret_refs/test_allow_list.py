"""Secret references resolve only inside the deployer's allow-list, never to the console's own
secrets: refused when saved (form, API) and again when used (probe, delivery)."""

from __future__ import annotations

import json
import os

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from checks import sweep_db
from checks.models import CheckConfig
from console import settings as console_settings
from console.notifications import dispatch
from console.notifications.models import Delivery
from tests.factories import ServiceFactory
from tests.mcp_servers.sdk_servers import RequestRecorder, demo_server, streamable_app
from tests.mcp_servers.serving import served
from tests.notifications.conftest import event
from tests.notifications.factories import ChannelFactory

pytestmark = pytest.mark.django_db

CONSOLE_OWN_VARIABLES = [
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_URL",
    "VAR_DIR",  # read by the settings module
    "ALLOWED_HOSTS",
    "AWS_SECRET_ACCESS_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_CLIENT_SECRET",
    "KUBECONFIG",
]


def patch_settings(client, service, spec):
    return client.patch(
        f"/api/v1/services/{service.name}/checks/settings",
        json.dumps(spec),
        content_type="application/json",
    )


def errors(response) -> dict:
    return {d["loc"][-1]: d["msg"] for d in response.json()["detail"]}


@pytest.fixture
def recorder():
    """A real MCP server on loopback that records every request it receives."""
    rec = RequestRecorder(streamable_app(demo_server("locked"), json_response=True))
    with served(rec) as base:
        rec.url = f"{base}/mcp"
        yield rec


def seen_headers(rec: RequestRecorder) -> str:
    return json.dumps([r["headers"] for r in rec.requests])


@pytest.mark.parametrize("name", CONSOLE_OWN_VARIABLES)
def test_console_variables_are_refused_on_save_even_when_every_name_is_allowed(
    operator_api, settings, name
):
    # given a deployer who allows any environment variable name ("*")
    settings.FLEET_SECRET_ENV_PREFIXES = ("",)
    service = ServiceFactory()
    # when an operator points the probe credential at the console's own variable
    response = patch_settings(
        operator_api, service, {"auth_header": "Authorization", "auth_secret_ref": f"env:{name}"}
    )
    # then the API refuses it, naming the field and why, and nothing is stored
    assert response.status_code == 422
    assert f"env:{name} is refused" in errors(response)["auth_secret_ref"]
    assert "never resolvable" in errors(response)["auth_secret_ref"]
    assert not CheckConfig.objects.filter(auth_secret_ref=f"env:{name}").exists()


def test_a_variable_outside_the_prefixes_is_refused_naming_the_allow_list(operator_api):
    service = ServiceFactory()
    response = patch_settings(
        operator_api, service, {"auth_header": "X-Key", "auth_secret_ref": "env:HOME_TOKEN"}
    )
    assert response.status_code == 422
    message = errors(response)["auth_secret_ref"]
    assert "env:HOME_TOKEN is refused" in message
    assert "FLEET_SECRET_ENV_PREFIXES" in message and "FLEET_SECRET_" in message
    assert "/run/secrets, /var/run/secrets, /etc/fleet-secrets" in message


def test_an_allowed_variable_is_saved_and_sent(operator_api, recorder, monkeypatch):
    monkeypatch.setenv("FLEET_SECRET_NOTES_TOKEN", "Bearer allowed-one")
    service = ServiceFactory(url=recorder.url)
    response = patch_settings(
        operator_api,
        service,
        {"auth_header": "Authorization", "auth_secret_ref": "env:FLEET_SECRET_NOTES_TOKEN"},
    )
    assert response.status_code == 200
    assert sweep_db.check_now(service).result.ok
    assert recorder.requests[0]["headers"]["authorization"] == "Bearer allowed-one"


@pytest.mark.parametrize("everything", [False, True])
def test_a_stored_reference_to_the_secret_key_is_refused_when_probing(
    recorder, settings, everything
):
    # given a reference stored before the rules existed (or written straight into the database)
    if everything:
        settings.FLEET_SECRET_ENV_PREFIXES = ("",)
    service = ServiceFactory(url=recorder.url)
    CheckConfig.objects.create(
        service=service, auth_header="Authorization", auth_secret_ref="env:SECRET_KEY"
    )
    # when the worker checks the service
    result = sweep_db.check_now(service).result
    # then the probe fails naming the reference, and the key never left the console
    assert not result.ok
    assert "env:SECRET_KEY is refused" in result.error
    assert django_settings.SECRET_KEY not in result.error
    assert django_settings.SECRET_KEY not in seen_headers(recorder)


def var_file(name: str, text: str) -> str:
    path = django_settings.VAR_DIR / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("ref", "dirs", "why"),
    [
        ("file:/etc/hostname", None, "is outside the allow-list"),
        ("file:/run/secrets/../../{var}/secret_key", None, "'..' is not allowed"),
        ("file:{var}/secret_key", ("/",), "console's own files"),
        ("file:{var}/console.sqlite3", ("/",), "console's own files"),
        ("file:{base}/console/settings.py", ("/",), "console's own files"),
        ("file:/proc/self/environ", ("/",), "console's own files"),
        ("file:/proc/self/cwd/var/secret_key", ("/",), "console's own files"),
        ("file:/proc/self/root{var}/secret_key", ("/",), "console's own files"),
        ("file:/dev/fd/0", ("/",), "console's own files"),
        ("file:/run/secrets/./../../{var}/secret_key", None, "'..' is not allowed"),
        ("file:{var}/console.sqlite3-wal", ("/",), "console's own files"),
        ("file:/var/run/secrets/kubernetes.io/serviceaccount/token", None, "console's own"),
    ],
)
def test_file_references_outside_the_dirs_or_into_the_console_are_refused_on_save(
    operator_api, settings, ref, dirs, why
):
    if dirs is not None:
        settings.FLEET_SECRET_DIRS = dirs
    ref = ref.format(var=django_settings.VAR_DIR, base=django_settings.BASE_DIR)
    service = ServiceFactory()
    response = patch_settings(
        operator_api, service, {"auth_header": "X-Key", "auth_secret_ref": ref}
    )
    assert response.status_code == 422
    assert why in errors(response)["auth_secret_ref"]


def test_an_allowed_directory_that_is_a_symlink_to_var_opens_nothing(
    operator_api, tmp_path, settings
):
    link = tmp_path / "fleet-secrets"
    link.symlink_to(django_settings.VAR_DIR, target_is_directory=True)
    settings.FLEET_SECRET_DIRS = (str(link),)
    var_file("secret_key_for_test", "console-own-secret-value")
    service = ServiceFactory()
    response = patch_settings(
        operator_api,
        service,
        {"auth_header": "X-Key", "auth_secret_ref": f"file:{link}/secret_key_for_test"},
    )
    assert response.status_code == 422
    assert "console's own files" in errors(response)["auth_secret_ref"]


def test_the_sqlite_database_and_its_journals_are_never_resolvable(tmp_path, settings):
    from console import secret_refs

    database = tmp_path / "data" / "console.sqlite3"
    database.parent.mkdir()
    settings.FLEET_SECRET_DIRS = (str(database.parent),)
    databases = {alias: dict(db) for alias, db in django_settings.DATABASES.items()}
    databases["default"].update(ENGINE="django.db.backends.sqlite3", NAME=str(database))
    settings.DATABASES = databases  # read by the rule only; the test database is untouched
    for suffix in ("", "-wal", "-shm", "-journal"):
        problem = secret_refs.ref_problem(f"file:{database}{suffix}")
        assert problem and "console's own files" in problem, suffix
    assert secret_refs.ref_problem(f"file:{database.parent}/token") is None


def test_a_symlink_into_var_is_refused_on_save_and_when_swapped_in_later(
    operator_api, recorder, secret_dir
):
    console_secret = var_file("secret_key_for_test", "console-own-secret-value")
    link = secret_dir / "sneaky"
    link.symlink_to(console_secret)
    service = ServiceFactory(url=recorder.url)
    refused = patch_settings(
        operator_api, service, {"auth_header": "X-Key", "auth_secret_ref": f"file:{link}"}
    )
    assert refused.status_code == 422
    assert "console's own files" in errors(refused)["auth_secret_ref"]

    # a plain file passes when saved, and is later swapped for a symlink into var/
    token = secret_dir / "token"
    token.write_text("fine-value")
    saved = patch_settings(
        operator_api, service, {"auth_header": "X-Key", "auth_secret_ref": f"file:{token}"}
    )
    assert saved.status_code == 200
    token.unlink()
    token.symlink_to(console_secret)
    result = sweep_db.check_now(service).result
    assert not result.ok and "refused" in result.error
    assert "console-own-secret-value" not in seen_headers(recorder) + result.error


def test_fifos_and_oversized_files_are_refused_when_used(operator_api, recorder, secret_dir):
    service = ServiceFactory(url=recorder.url)
    fifo = secret_dir / "pipe"
    os.mkfifo(fifo)  # opening it for reading would block a worker forever
    big = secret_dir / "big"
    big.write_text("x" * (100 * 1024))
    for path, why in ((fifo, "not a regular file"), (big, "larger than 64 KiB")):
        saved = patch_settings(
            operator_api, service, {"auth_header": "X-Key", "auth_secret_ref": f"file:{path}"}
        )
        assert saved.status_code == 200
        result = sweep_db.check_now(service).result
        assert not result.ok and why in result.error
    assert recorder.requests == []


def test_a_secret_with_a_line_break_is_never_sent_as_a_header(operator_api, recorder, secret_dir):
    token = secret_dir / "token"
    token.write_text("Bearer abc\r\nX-Injected: yes\n")
    service = ServiceFactory(url=recorder.url)
    patch_settings(
        operator_api, service, {"auth_header": "Authorization", "auth_secret_ref": f"file:{token}"}
    )
    result = sweep_db.check_now(service).result
    assert not result.ok and "line break" in result.error
    assert "x-injected" not in seen_headers(recorder)


def test_channel_form_and_api_refuse_references_outside_the_allow_list(
    operator_client, operator_api, settings
):
    settings.FLEET_SECRET_ENV_PREFIXES = ("",)
    form = operator_client.post(
        "/alerts/channels/new/",
        {
            "name": "ops-hook",
            "type": "webhook",
            "target": "https://hooks.example.com/fleet",
            "secret_header": "Authorization",
            "secret_ref": "env:DATABASE_URL",
            "enabled": "on",
        },
    )
    assert form.status_code == 422
    assert "env:DATABASE_URL is refused" in form.content.decode()
    api = operator_api.post(
        "/api/v1/alerts/channels",
        json.dumps({"name": "slack", "type": "slack", "target": "env:SECRET_KEY"}),
        content_type="application/json",
    )
    assert api.status_code == 422
    assert "env:SECRET_KEY is refused" in errors(api)["target"]


def test_stored_channel_references_to_console_secrets_are_refused_when_delivering(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.FLEET_SECRET_ENV_PREFIXES = ("",)
    notes = ServiceFactory(name="notes")
    ChannelFactory(
        name="hook", target=receiver.url, secret_header="X-Token", secret_ref="env:SECRET_KEY"
    )
    ChannelFactory(name="slack", type="slack", target="env:REDIS_URL")
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.notify(event(notes))
    errors_by_channel = dict(Delivery.objects.values_list("channel_name", "last_error"))
    assert "env:SECRET_KEY is refused" in errors_by_channel["hook"]
    assert "env:REDIS_URL is refused" in errors_by_channel["slack"]
    assert receiver.requests == []
    assert django_settings.SECRET_KEY not in json.dumps(errors_by_channel)


def test_allow_list_settings_are_parsed_strictly():
    assert console_settings._secret_env_prefixes("FLEET_SECRET_, TEAM_A_") == (
        "FLEET_SECRET_",
        "TEAM_A_",
    )
    assert console_settings._secret_env_prefixes("*") == ("",)
    assert console_settings._secret_env_prefixes("") == ()
    with pytest.raises(ImproperlyConfigured, match="FLEET_SECRET_ENV_PREFIXES: 'lower_'"):
        console_settings._secret_env_prefixes("lower_")
    with pytest.raises(ImproperlyConfigured, match="FLEET_SECRET_DIRS: 'secrets'"):
        console_settings._secret_dirs("/run/secrets,secrets")
