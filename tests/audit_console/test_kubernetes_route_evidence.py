"""Routes and caller checks from the custom resources clusters add: Gateway API HTTPRoutes and
Gateways, Istio AuthorizationPolicies and RequestAuthentications, GKE BackendConfigs.

The official kubernetes client reads them from the strict fake (tests/fakes/kubernetes.py, CRDs
in fleet/demo/emulators/kubernetes_crds.py) over HTTP. One cluster and one namespace read are
shared by the fact tests (each read is a handful of list calls); one audit checks the verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from kubernetes import client as k8s

from checks.audits.evidence import NETWORK, PLATFORM_AUTH, RATE_LIMITS, REACHABILITY
from checks.audits.readers import kubernetes as reader
from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_ENV
from tests.fakes.kubernetes import FakeKubernetes

NS = "mcp"
ISTIO_PROXY = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0"}
SERVICES = ("routed", "refused", "jwt", "openmesh", "iap", "nosidecar")


def _seed(fake: FakeKubernetes) -> None:
    fake.crds |= {"gateway-api", "istio", "gke"}
    # A shared Gateway in its own namespace, with a public address, and one never programmed.
    fake.add_gateway("public", namespace="gateways", address="203.0.113.80")
    fake.add_deployment("routed", namespace=NS)
    fake.add_http_route(
        "routed", namespace=NS, service="routed", gateway="public", gateway_namespace="gateways",
        hostname="routed.example.com",
    )  # fmt: skip
    fake.add_deployment("refused", namespace=NS)
    fake.add_http_route(
        "refused", namespace=NS, service="refused", gateway="public",
        gateway_namespace="gateways", accepted=False, reason="NotAllowedByListeners",
        message="no listener allows routes from namespace mcp",
    )  # fmt: skip
    # Istio: JWT required at the sidecar, even though a LoadBalancer admits anyone at layer 4.
    fake.add_deployment("jwt", namespace=NS, service_type="LoadBalancer", sidecars=[ISTIO_PROXY])
    fake.add_request_authentication(
        "jwt", namespace=NS, issuer="https://auth.example.com", match_labels={"app": "jwt"}
    )
    fake.add_authorization_policy(
        "jwt-required", namespace=NS, match_labels={"app": "jwt"},
        rules=[{"from": [{"source": {"requestPrincipals": ["https://auth.example.com/*"]}}]}],
    )  # fmt: skip
    fake.add_deployment("openmesh", namespace=NS, sidecars=[ISTIO_PROXY])
    fake.add_authorization_policy(
        "allow-all", namespace=NS, match_labels={"app": "openmesh"}, rules=[{}]
    )
    # The same JWT policy on pods without a proxy: nothing enforces it.
    fake.add_deployment("nosidecar", namespace=NS)
    fake.add_authorization_policy(
        "nosidecar-jwt", namespace=NS, match_labels={"app": "nosidecar"},
        rules=[{"from": [{"source": {"requestPrincipals": ["*"]}}]}],
    )  # fmt: skip
    # GKE: IAP and Cloud Armor through a BackendConfig named by the Service, behind a gce Ingress.
    fake.add_deployment("iap", namespace=NS)
    fake.objects["services"][(NS, "iap")]["metadata"]["annotations"] = {
        "cloud.google.com/backend-config": json.dumps({"ports": {"http": "iap-armor"}})
    }
    fake.add_backend_config("iap-armor", namespace=NS, iap=True, security_policy="edge-limits")
    fake.add_ingress("iap", namespace=NS, service="iap", host="iap.example.com",
                     ingress_class="gce")  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as fake:
        _seed(fake)
        yield fake


def api_client(fake: FakeKubernetes) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    configuration.host = fake.endpoint
    configuration.api_key = {"BearerToken": "Bearer test"}
    return k8s.ApiClient(configuration)


def read(fake: FakeKubernetes) -> reader.NamespaceRead:
    return reader.read_namespace(api_client(fake), NS, "k8s, namespace mcp", datetime.now(UTC))


@pytest.fixture(scope="module")
def facts(cluster) -> dict[str, dict]:
    """Every fact of every seeded service from one read of the namespace."""
    once = read(cluster)
    by_name = {d["metadata"]["name"]: d for d in once.items("deployments")}
    return {name: reader._facts(once, by_name[name], name) for name in SERVICES}


def test_a_route_through_an_accepted_gateway_is_how_the_service_is_reached(facts):
    reach, network = facts["routed"][REACHABILITY], facts["routed"][NETWORK]

    assert reach.value["problems"] == []
    assert reach.value["exposure"] == "internet"  # exposed the way its Gateway is
    assert (
        "HTTPRoute routed (routed.example.com) via Gateway gateways/public (203.0.113.80, https)"
        " → Service routed:80" in reach.summary
    )
    assert network.value["exposure"] == "internet"
    # No standard auth or rate-limit field in the Gateway API: undecided, not guessed.
    assert "the Gateway API defines no authentication" in facts["routed"][PLATFORM_AUTH]
    assert "no standard rate-limit field" in facts["routed"][RATE_LIMITS]


def test_a_route_its_gateway_did_not_accept_does_not_reach_the_service(facts):
    reach = facts["refused"][REACHABILITY]

    assert reach.value["problems"] == [
        "HTTPRoute refused (any host) via Gateway gateways/public is not accepted (Accepted "
        "NotAllowedByListeners: no listener allows routes from namespace mcp)"
    ]
    assert reach.value["exposure"] == "cluster"  # only its ClusterIP Service
    assert "HTTPRoute" not in str(facts["refused"][NETWORK].value["entries"])


def test_an_istio_policy_requiring_a_jwt_checks_every_route(facts):
    auth = facts["jwt"][PLATFORM_AUTH]

    assert auth.value["open"] is False and auth.value["exposure"] == "internet"
    assert "jwt-required (ALLOW) requires a JWT (requestPrincipals)" in auth.summary
    assert "JWTs from https://auth.example.com" in auth.summary
    assert "enforced by the pods' Istio proxy for every route (Service jwt type LoadBalancer" in (
        auth.summary
    )


def test_an_istio_allow_all_policy_is_reported_as_open(facts):
    auth = facts["openmesh"][PLATFORM_AUTH]

    assert auth.value["open"] is True
    assert "allow-all (ALLOW) has an empty rule: it allows every request" in auth.summary


def test_an_istio_policy_without_a_proxy_in_the_pods_enforces_nothing(facts):
    auth = facts["nosidecar"][PLATFORM_AUTH]

    assert auth.value["open"] is True
    assert "no pod of it runs an Istio proxy, so nothing enforces it" in auth.summary


@pytest.mark.parametrize(
    ("policies", "guarded", "said"),
    [
        (  # DENY runs before ALLOW: an allow-all cannot undo it
            [{"action": "DENY", "rules": [{"from": [{"source": {"notRequestPrincipals": ["*"]}}]}]},
             {"rules": [{}]}],
            True, "rejects requests without a valid JWT",
        ),
        ([{}], True, "allows nothing"),  # an ALLOW policy without rules matches no request
        (
            [{"rules": [{"to": [{"operation": {"paths": ["/healthz"]}}]},
                        {"when": [{"key": "request.auth.claims[groups]", "values": ["mcp"]}]}]}],
            True, "requires a caller matching request.auth.claims[groups]",
        ),
        ([{"rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}]}]}], False,
         "admits requests without a caller identity"),
    ],
)  # fmt: skip
def test_istio_policies_are_evaluated_in_istios_order(policies, guarded, said):
    from checks.audits.readers.kubernetes_istio import mesh_auth

    objects = [{"metadata": {"name": f"p{i}"}, "spec": spec} for i, spec in enumerate(policies)]
    found = mesh_auth(objects, [], {"app": "x"}, lambda: [{"spec": {"containers": [ISTIO_PROXY]}}])

    assert found is not None and found.enforced
    assert found.guarded is guarded and said in "; ".join(found.how)


def test_a_request_authentication_alone_lets_requests_without_a_token_pass():
    from checks.audits.readers.kubernetes_istio import mesh_auth

    authn = [
        {"metadata": {"name": "jwt"}, "spec": {"jwtRules": [{"issuer": "https://id.example"}]}}
    ]
    found = mesh_auth([], authn, {"app": "x"}, lambda: [])

    assert found is not None and found.guarded is None
    assert "requests without a token pass" in found.notes[0]


def test_iap_on_the_backend_config_checks_callers_and_cloud_armor_is_named(facts):
    auth = facts["iap"][PLATFORM_AUTH]

    assert auth.value["open"] is False
    assert "Ingress iap is behind Identity-Aware Proxy (BackendConfig iap-armor" in auth.summary
    # Cloud Armor's rules live in Compute Engine: attached is all the cluster can say.
    limits = facts["iap"][RATE_LIMITS]
    assert isinstance(limits, str)
    assert "Cloud Armor policy edge-limits (BackendConfig iap-armor) is attached" in limits
    assert "does not show" in limits


def test_lists_are_paginated_and_read_once_per_namespace(cluster, monkeypatch):
    monkeypatch.setattr(reader, "PAGE", 1)
    cluster.clear_requests()

    once = read(cluster)

    assert len(once.items("deployments")) == len(SERVICES)
    routes = cluster.requests_to("GET", "/httproutes")
    assert len(routes) == 2 and routes[1].query.get("continue")  # two routes, one per page
    # The shared Gateway's namespace is listed once, not once per route or service.
    assert len(cluster.requests_to("GET", "/namespaces/gateways/gateways")) == 1


def test_without_the_crds_other_sources_still_decide(cluster):
    cluster.crds.clear()
    try:
        once = read(cluster)
    finally:
        cluster.crds |= {"gateway-api", "istio", "gke"}
    by_name = {d["metadata"]["name"]: d for d in once.items("deployments")}

    assert once.lists["httproutes"] == [] and "not installed" in once.why["httproutes"]
    jwt = reader.platform_auth(once, by_name["jwt"])
    assert jwt.value["open"] is True  # the LoadBalancer alone decides now
    routed = reader.reachability(once, by_name["routed"])
    assert routed.value["exposure"] == "cluster" and routed.value["problems"] == []
    iap = reader.platform_auth(once, by_name["iap"])
    assert "Ingress iap has no authentication annotation" in iap.summary


def test_a_refused_list_names_the_missing_permission(cluster):
    cluster.fail_next(403, path_contains="/httproutes")
    cluster.fail_next(403, path_contains="/authorizationpolicies")

    once = read(cluster)
    deployment = next(d for d in once.items("deployments") if d["metadata"]["name"] == "routed")

    reach = reader.reachability(once, deployment)
    assert reach == (
        "listing HTTPRoutes (Gateway API) was refused (403): the console needs RBAC permission "
        "'list httproutes.gateway.networking.k8s.io' in namespace mcp"
    )
    auth = reader.platform_auth(once, deployment)
    assert "'list authorizationpolicies.security.istio.io' in namespace mcp" in auth


@pytest.mark.django_db
def test_the_audit_decides_the_rules_from_these_routes(cluster, monkeypatch, run_audit):
    monkeypatch.setenv(EMULATOR_ENV, "1")
    account = CloudAccount.objects.create(
        name="k8s", provider="kubernetes", namespace=NS, endpoint=cluster.endpoint
    )
    for name in SERVICES:
        Service.objects.create(
            name=name, url=f"https://{name}.example.com/mcp", account=account, resource=name,
            environment="production",
        )  # fmt: skip

    run = run_audit()
    status = {
        (r.service_name, r.rule_id): r
        for r in run.results.filter(
            rule_id__in=("infrastructure.ingress-configured", "security.platform-auth")
        )
    }

    assert status[("routed", "infrastructure.ingress-configured")].status == "pass"
    refused = status[("refused", "infrastructure.ingress-configured")]
    assert refused.status == "fail" and "NotAllowedByListeners" in refused.message
    assert status[("jwt", "security.platform-auth")].status == "pass"
    assert status[("iap", "security.platform-auth")].status == "pass"
    assert status[("openmesh", "security.platform-auth")].status == "warning"
    assert status[("routed", "security.platform-auth")].status == "no_evidence"
