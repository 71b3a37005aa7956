"""Reach settings end to end: proxies, CA bundles, client certificates and skip-verify set through
the form, the API and the fleet file, probed by the worker's real sweep code against loopback
servers (a recording forward proxy, an mTLS server with a private CA, an HTTP/2-only server)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command

from checks import sweep_db
from checks.models import CheckConfig
from checks.targets import TargetError, target_for
from console.models import AuditLogEntry
from fleet.fleetfile import FleetFileError, import_fleet
from tests.factories import CloudAccountFactory, ServiceFactory
from tests.fakes.h2_mcp import H2OnlyMcpServer
from tests.fakes.proxy import ForwardProxy
from tests.fakes.server import make_ssl_server_context
from tests.fakes.tls import PrivateCA
from tests.mcp_servers.sdk_servers import demo_server, streamable_app
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db
API = "/api/v1"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca() -> PrivateCA:
    return PrivateCA()


@pytest.fixture(scope="module")
def plain_mcp() -> Iterator[str]:
    with served(streamable_app(demo_server("plain", "1.0"), json_response=True)) as base:
        yield f"{base}/mcp"


@pytest.fixture(scope="module")
def mtls_mcp(ca, tmp_path_factory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("mtls-server")
    cert, key = ca.issue("mtls.internal", ("127.0.0.1",))
    (folder / "cert.pem").write_bytes(cert)
    (folder / "key.pem").write_bytes(key)
    (folder / "ca.pem").write_bytes(ca.cert_pem)
    app = streamable_app(demo_server("mtls", "1.0"), json_response=True)
    with served(
        app,
        ssl_certfile=str(folder / "cert.pem"),
        ssl_keyfile=str(folder / "key.pem"),
        ssl_ca_certs=str(folder / "ca.pem"),
    ) as base:
        yield f"{base}/mcp"


@pytest.fixture
def client_files(ca, secret_dir) -> dict[str, str]:
    """The CA bundle and a client certificate + key, mounted in an allowed secret directory."""
    cert, key = ca.issue("fleet-probe", client=True)
    (secret_dir / "ca.pem").write_bytes(ca.cert_pem)
    (secret_dir / "probe.crt").write_bytes(cert)
    (secret_dir / "probe.key").write_bytes(key)
    return {
        "tls_ca_bundle_ref": f"file:{secret_dir / 'ca.pem'}",
        "tls_client_cert_ref": f"file:{secret_dir / 'probe.crt'}",
        "tls_client_key_ref": f"file:{secret_dir / 'probe.key'}",
    }


def patch_settings(client, name: str, spec: dict):
    return client.patch(f"{API}/services/{name}/checks/settings", spec, "application/json")


def detail_fields(response) -> dict[str, str]:
    return {d["loc"][-1]: d["msg"] for d in response.json()["detail"]}


# -- proxy + private CA + mTLS, from the account and the check settings -------------------------


def test_account_proxy_and_service_mtls_settings_probe_through_a_connect_tunnel(
    operator_client, mtls_mcp, client_files, secret_dir, monkeypatch
):
    monkeypatch.setenv("FLEET_SECRET_PROXY_LOGIN", "probe:pr0xy-pass")
    with ForwardProxy(credentials="probe:pr0xy-pass") as proxy:
        account = operator_client.post(
            f"{API}/accounts",
            {
                "name": "corp",
                "provider": "url",
                "probe_proxy_url": proxy.url,
                "probe_proxy_auth_ref": "env:FLEET_SECRET_PROXY_LOGIN",
            },
            "application/json",
        )
        assert account.status_code == 201, account.content
        service = ServiceFactory(
            name="vault", url=mtls_mcp, account=CloudAccountFactory(name="corp")
        )
        saved = patch_settings(operator_client, "vault", client_files)
        assert saved.status_code == 200, saved.content
        result = sweep_db.check_now(service).result

    assert result.ok, result.error
    assert result.tls_days > 29
    authority = mtls_mcp.split("//", 1)[1].split("/", 1)[0]
    assert {r.target for r in proxy.requests} == {authority}
    assert {r.method for r in proxy.requests} == {"CONNECT"}
    assert "pr0xy-pass" not in account.content.decode() + saved.content.decode()


def test_without_the_client_certificate_the_mtls_server_refuses_the_probe(mtls_mcp, client_files):
    service = ServiceFactory(name="vault", url=mtls_mcp)
    CheckConfig.objects.create(
        service=service, tls_ca_bundle_ref=client_files["tls_ca_bundle_ref"], timeout_seconds=3
    )
    result = sweep_db.check_now(service).result
    assert not result.ok


# -- the worker's environment ------------------------------------------------------------------


def test_the_environment_proxy_carries_the_probe_and_no_proxy_bypasses_it(plain_mcp, monkeypatch):
    service = ServiceFactory(name="envy", url=plain_mcp)
    with ForwardProxy() as proxy:
        # Lowercase wins over uppercase, as in curl and urllib: the uppercase one is dead.
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("http_proxy", proxy.url)
        through = sweep_db.check_now(service).result
        seen = len(proxy.requests)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
        direct = sweep_db.check_now(service).result

    assert through.ok and direct.ok, (through.error, direct.error)
    assert seen > 0 and all(r.target.startswith("http://127.0.0.1:") for r in proxy.requests)
    assert len(proxy.requests) == seen  # nothing more went through the proxy after NO_PROXY


def test_direct_in_the_check_settings_overrides_the_environment(plain_mcp, monkeypatch):
    service = ServiceFactory(name="envy", url=plain_mcp)
    CheckConfig.objects.create(service=service, proxy_url="direct")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would refuse the connection
    assert sweep_db.check_now(service).result.ok


# -- the httpx fallback, remembered and shown -----------------------------------------------------


def test_an_http2_only_service_is_probed_with_httpx_remembered_and_shown(
    operator_client, ca, secret_dir
):
    cert, key = ca.issue("h2.internal", ("127.0.0.1",))
    (secret_dir / "ca.pem").write_bytes(ca.cert_pem)
    with H2OnlyMcpServer(make_ssl_server_context(cert, key)) as server:
        service = ServiceFactory(name="h2only", url=server.url)
        CheckConfig.objects.create(
            service=service, tls_ca_bundle_ref=f"file:{secret_dir / 'ca.pem'}"
        )
        first = sweep_db.check_now(service).result
        tried_lean = server.http1_refused
        second = sweep_db.check_now(service).result
        out = io.StringIO()
        call_command("probe", "h2only", "--json", stdout=out)

    assert first.ok and second.ok, (first.error, second.error)
    assert tried_lean >= 1 and server.http1_refused == tried_lean  # remembered: no lean retry
    config = CheckConfig.objects.get(service=service)
    assert config.probe_client == "httpx"
    assert config.probe_client_reason == "the server speaks only HTTP/2"
    page = operator_client.get(f"/services/{service.name}/checks/settings/")
    assert "httpx, because the server speaks only HTTP/2" in page.content.decode()
    api = operator_client.get(f"{API}/services/{service.name}/checks/settings").json()
    assert api["probe_client"] == "httpx"
    cli = json.loads(out.getvalue())
    assert cli["client"] == "httpx" and cli["tls_trusted"] is True and cli["ok"]


def test_the_settings_page_says_the_lean_client_by_default(operator_client):
    ServiceFactory(name="plain")
    page = operator_client.get("/services/plain/checks/settings/").content.decode()
    assert "the lean client (HTTP/1.1)" in page


# -- skip verification ---------------------------------------------------------------------------


def test_skip_verify_is_refused_for_production_naming_the_environment_field(operator_client):
    ServiceFactory(name="prod-svc", environment="production")
    response = patch_settings(operator_client, "prod-svc", {"tls_skip_verify": True})
    assert response.status_code == 422
    message = detail_fields(response)["tls_skip_verify"]
    assert "environment field is 'production'" in message
    assert not AuditLogEntry.objects.filter(action="tls_skip_verify_on").exists()


def test_skip_verify_on_staging_is_audited_and_probes_a_private_ca_server(
    operator_client, operator, mtls_mcp, client_files
):
    service = ServiceFactory(name="stage-svc", environment="staging", url=mtls_mcp)
    spec = {
        "tls_skip_verify": True,
        "tls_client_cert_ref": client_files["tls_client_cert_ref"],
        "tls_client_key_ref": client_files["tls_client_key_ref"],
    }
    assert patch_settings(operator_client, "stage-svc", spec).status_code == 200
    entry = AuditLogEntry.objects.get(action="tls_skip_verify_on")
    assert entry.actor == operator and "stage-svc" in entry.detail and "staging" in entry.detail
    result = sweep_db.check_now(service).result
    assert result.ok, result.error  # no CA bundle, yet verification was skipped


def test_a_service_moved_to_production_stops_skipping_verification(operator_client):
    service = ServiceFactory(name="moving", environment="dev")
    assert patch_settings(operator_client, "moving", {"tls_skip_verify": True}).status_code == 200
    service.environment = "production"
    service.save()
    config = CheckConfig.objects.get(service=service)
    with pytest.raises(TargetError, match="tls_skip_verify is set but refused"):
        target_for(service, config)


# -- bad input, each field, each way in ----------------------------------------------------------

BAD_CHECK_SETTINGS = [
    ("proxy_url", {"proxy_url": "socks5://proxy.corp:1080"}, "http://host:port"),
    ("proxy_url", {"proxy_url": "http://me:pw@proxy.corp:3128"}, "proxy_auth_ref"),
    ("proxy_url", {"proxy_url": "http://169.254.169.254:3128"}, "egress refused"),
    ("proxy_url", {"proxy_url": "http://proxy.corp:3128/path"}, "without a path"),
    ("proxy_auth_ref", {"proxy_auth_ref": "env:FLEET_SECRET_P"}, "needs a proxy"),
    (
        "proxy_auth_ref",
        {"proxy_url": "http://proxy.corp:3128", "proxy_auth_ref": "me:pw"},
        "never the secret itself",
    ),
    ("tls_ca_bundle_ref", {"tls_ca_bundle_ref": "env:FLEET_SECRET_CA"}, "file:/absolute/path"),
    ("tls_ca_bundle_ref", {"tls_ca_bundle_ref": "file:/etc/ssl/certs/ca.pem"}, "outside"),
    (
        "tls_client_cert_ref",
        {"tls_client_cert_ref": "-----BEGIN CERTIFICATE-----"},
        "never the PEM itself",
    ),
    ("tls_client_cert_ref", {"tls_client_key_ref": "file:/x/key.pem"}, "client certificate"),
    ("tls_client_key_ref", {"tls_client_key_ref": "key-text"}, "file:/absolute/path"),
    ("tls_skip_verify", {"tls_skip_verify": True}, "environment field"),
]


@pytest.mark.parametrize(("field", "spec", "says"), BAD_CHECK_SETTINGS)
def test_bad_reach_settings_are_refused_by_the_api_naming_the_field(
    operator_client, field, spec, says
):
    ServiceFactory(name="target", environment="production")
    response = patch_settings(operator_client, "target", spec)
    assert response.status_code == 422, response.content
    assert says in detail_fields(response)[field]


@pytest.mark.parametrize(("field", "spec", "says"), BAD_CHECK_SETTINGS)
def test_bad_reach_settings_are_refused_by_the_form_naming_the_field(
    operator_client, field, spec, says
):
    ServiceFactory(name="target", environment="production")
    data = {
        "enabled": "on",
        "interval_seconds": 60,
        "timeout_seconds": 10,
        "failure_threshold": 3,
        "recovery_threshold": 2,
        "slow_ms": 2000,
        "expected_status": 200,
        **{k: ("on" if v is True else v) for k, v in spec.items()},
    }
    response = operator_client.post("/services/target/checks/settings/", data)
    assert response.status_code == 422
    page = response.content.decode()
    assert says.replace("'", "&#x27;") in page
    config = CheckConfig.objects.get(service__name="target")
    assert getattr(config, field) == CheckConfig._meta.get_field(field).get_default()


@pytest.mark.parametrize(("field", "spec", "says"), BAD_CHECK_SETTINGS)
def test_bad_reach_settings_are_refused_by_the_fleet_file_naming_entry_and_field(field, spec, says):
    lines = "\n".join(f"      {k}: {'true' if v is True else repr(v)}" for k, v in spec.items())
    text = (
        "services:\n  - name: target\n    url: https://target.example.com/mcp\n"
        f"    environment: production\n    checks:\n{lines}\n"
    )
    with pytest.raises(FleetFileError) as exc:
        import_fleet(text, actor="otto")
    assert any(f"checks.{field}:" in e and says in e for e in exc.value.errors), exc.value.errors


BAD_ACCOUNT_SETTINGS = [
    ("probe_proxy_url", {"probe_proxy_url": "ftp://proxy.corp:21"}, "http://host:port"),
    ("probe_proxy_url", {"probe_proxy_url": "http://u:p@proxy.corp:3128"}, "probe_proxy_auth_ref"),
    ("probe_proxy_auth_ref", {"probe_proxy_auth_ref": "env:FLEET_SECRET_P"}, "needs a proxy"),
    ("probe_tls_ca_bundle_ref", {"probe_tls_ca_bundle_ref": "ca-text"}, "file:/absolute/path"),
    ("probe_tls_client_cert_ref", {"probe_tls_client_cert_ref": "env:X"}, "file:/absolute/path"),
    ("probe_tls_client_key_ref", {"probe_tls_client_key_ref": "k"}, "file:/absolute/path"),
]


@pytest.mark.parametrize(("field", "spec", "says"), BAD_ACCOUNT_SETTINGS)
def test_bad_account_reach_settings_are_refused_everywhere(operator_client, field, spec, says):
    api = operator_client.post(
        f"{API}/accounts", {"name": "corp", "provider": "url", **spec}, "application/json"
    )
    assert api.status_code == 422, api.content
    assert any(says in str(d) and field in str(d) for d in api.json()["detail"]), api.json()
    form = operator_client.post("/accounts/new/", {"name": "corp", "provider": "url", **spec})
    assert form.status_code in (200, 422) and says.replace("'", "&#x27;") in form.content.decode()
    text = "accounts:\n  - name: corp\n    provider: url\n" + "".join(
        f"    {k}: {v!r}\n" for k, v in spec.items()
    )
    with pytest.raises(FleetFileError) as exc:
        import_fleet(text, actor="otto")
    assert any(field in e and says in e for e in exc.value.errors), exc.value.errors
