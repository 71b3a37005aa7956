"""Audit verdicts decided from what the Kubernetes API shows, read through the official client.

The strict Kubernetes fake (tests/fakes/kubernetes.py) serves the list endpoints the reader uses:
NetworkPolicies and Ingresses (networking.k8s.io/v1), RoleBindings, ClusterRoleBindings, Roles
and ClusterRoles (rbac.authorization.k8s.io/v1), PodMetrics (metrics.k8s.io/v1beta1),
ServiceMonitors (monitoring.coreos.com/v1, only when the Prometheus Operator is installed) and pod
logs. Before, every one of these rules waited for an attestation or judged a console setting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_ENV
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.prometheus import FakePrometheus

pytestmark = pytest.mark.django_db
NS = "mcp"


@pytest.fixture
def cluster(monkeypatch) -> Iterator[FakeKubernetes]:
    monkeypatch.setenv(EMULATOR_ENV, "1")
    with FakeKubernetes() as fake:
        # A well-run server: drains, is scraped, fenced by a policy, narrow role, JSON logs.
        fake.add_deployment(
            "notes",
            namespace=NS,
            service_account="notes",
            requests={"cpu": "250m", "memory": "128Mi"},
            limits={"cpu": "500m", "memory": "256Mi"},
            pod_annotations={"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
            pod_spec={
                "terminationGracePeriodSeconds": 30,
                "containers": [
                    {
                        **fake_container("notes", "250m", "128Mi", "500m", "256Mi"),
                        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                    }
                ],
            },
        )
        fake.add_network_policy(
            "notes-from-agents",
            namespace=NS,
            pod_selector={"app": "notes"},
            allow_from=[{"podSelector": {"matchLabels": {"role": "agent"}}}],
        )
        fake.add_role("config-reader", [{"apiGroups": [""], "resources": ["configmaps"],
                                         "verbs": ["get"]}], namespace=NS)  # fmt: skip
        fake.bind_role(
            "notes-config", namespace=NS, service_account="notes", role="config-reader",
            role_kind="Role",
        )  # fmt: skip
        fake.pod_usage[(NS, "notes")] = {"cpu": "150m", "memory": "100Mi"}
        fake.pod_logs[(NS, "notes")] = [json.dumps({"level": "info", "tool": "add_note"})] * 20
        # A neglected one: public through an Ingress without limits, edit role, plain logs.
        fake.add_deployment(
            "calendar",
            namespace=NS,
            service_account="calendar",
            requests={"cpu": "1", "memory": "1Gi"},
            limits={"cpu": "2", "memory": "2Gi"},
            pod_spec={"terminationGracePeriodSeconds": 2},
        )
        fake.add_ingress("calendar", namespace=NS, service="calendar", host="cal.example.com")
        fake.bind_role("calendar-edit", namespace=NS, service_account="calendar", role="edit")
        fake.pod_usage[(NS, "calendar")] = {"cpu": "5m", "memory": "40Mi"}
        fake.pod_logs[(NS, "calendar")] = ["GET /sse 200", "tool list_events ok"] * 10
        yield fake


def fake_container(name: str, cpu_req: str, mem_req: str, cpu_lim: str, mem_lim: str) -> dict:
    return {
        "name": "server",
        "image": f"ghcr.io/example/mcp-{name}:1.0.0",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": cpu_req, "memory": mem_req},
            "limits": {"cpu": cpu_lim, "memory": mem_lim},
        },
    }


@pytest.fixture
def services(cluster) -> dict[str, Service]:
    account = CloudAccount.objects.create(
        name="k8s", provider="kubernetes", namespace=NS, endpoint=cluster.endpoint
    )
    return {
        name: Service.objects.create(
            name=name,
            url=f"https://{name}.example.com/mcp",
            account=account,
            resource=name,
            environment="production",
        )
        for name in ("notes", "calendar")
    }


def verdicts(run, service: str) -> dict[str, object]:
    return {r.rule_id: r for r in run.results.filter(service_name=service)}


def test_a_well_run_deployment_passes_from_evidence(services, cluster, run_audit):
    results = verdicts(run_audit(), "notes")

    expected = {
        "reliability.graceful-shutdown": "pass",
        "observability.metrics": "pass",
        "observability.structured-logging": "pass",
        "security.network-restricted": "pass",
        "security.least-privilege-review": "pass",
        "infrastructure.ingress-configured": "pass",
        "cost.right-sizing": "pass",
        "performance.resource-limits": "pass",
        "reliability.backup-restore": "not_applicable",
        "compliance.encryption-at-rest": "not_applicable",
    }
    assert {rule: results[rule].status for rule in expected} == expected
    shutdown = results["reliability.graceful-shutdown"]
    assert "preStop sleep 5 s" in str(shutdown.evidence)
    assert any("Kubernetes API" in e["source"] for e in shutdown.evidence)
    assert all(results[rule].basis == "evidence" for rule in expected if expected[rule] == "pass")
    # Nothing in front of a cluster-internal service shows its limits: a person must say.
    assert results["security.rate-limiting"].status == "needs_attestation"
    assert "no Ingress routes to it" in results["security.rate-limiting"].message
    # The audit policy is an API-server flag: no evidence rather than a guess.
    audit = results["compliance.audit-logging"]
    assert audit.status == "no_evidence" and "audit policy" in audit.message


def test_a_neglected_deployment_fails_for_what_the_cluster_shows(services, cluster, run_audit):
    results = verdicts(run_audit(), "calendar")

    assert results["reliability.graceful-shutdown"].status == "fail"
    assert "2 s between SIGTERM and SIGKILL" in results["reliability.graceful-shutdown"].message
    assert results["observability.metrics"].status == "fail"
    assert results["observability.structured-logging"].status == "fail"
    assert "0 of 20 recent lines" in str(results["observability.structured-logging"].evidence)
    network = results["security.network-restricted"]
    assert network.status == "fail" and "from the internet" in network.message
    assert "Ingress calendar host cal.example.com" in str(network.evidence)
    assert results["security.rate-limiting"].status == "fail"
    iam = results["security.least-privilege-review"]
    assert iam.status == "fail" and "built-in 'edit' role" in str(iam.evidence)
    assert results["cost.right-sizing"].status == "warning"


def test_rate_limit_annotations_on_the_ingress_count(services, cluster, run_audit):
    ingress = cluster.objects["ingresses"][(NS, "calendar")]
    ingress["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/limit-rps": "10"}

    result = verdicts(run_audit(), "calendar")["security.rate-limiting"]

    assert result.status == "pass"
    assert "10 requests per second per client" in str(result.evidence)


def test_a_list_the_console_may_not_read_leaves_only_that_rule_open(services, cluster, run_audit):
    cluster.fail_next(403, 10, path_contains="/rolebindings")

    results = verdicts(run_audit(), "notes")

    iam = results["security.least-privilege-review"]
    assert iam.status == "needs_attestation" and "403" in iam.message
    assert results["reliability.graceful-shutdown"].status == "pass"


def test_without_metrics_server_right_sizing_says_why(services, cluster, run_audit):
    cluster.metrics_server = False

    result = verdicts(run_audit(), "notes")["cost.right-sizing"]

    assert result.status == "needs_attestation"
    assert "metrics.k8s.io" in result.message and "not served" in result.message


def test_an_unreachable_route_fails_the_ingress_rule(services, cluster, run_audit):
    service = cluster.objects["services"][(NS, "notes")]
    service["spec"]["ports"][0]["targetPort"] = 9000  # nothing listens there

    result = verdicts(run_audit(), "notes")["infrastructure.ingress-configured"]

    assert result.status == "fail" and "targets 9000" in result.message


def test_service_page_does_not_ask_to_attest_what_evidence_decided(
    services, cluster, run_audit, operator_client
):
    """An attestable rule the latest audit decided from the cluster's evidence is shown with that
    verdict on the service page, not as "needs attestation"."""
    run = run_audit()

    page = operator_client.get("/services/notes/").content.decode()
    card = page[page.index("<h3>Manual rules</h3>") :]
    metrics = card[card.index("observability.metrics") :].split("</tr>", 1)[0]
    assert "needs attestation" not in metrics
    assert 'status-pass">pass</span> from evidence' in metrics and f"audit #{run.pk}" in metrics
    rate = card[card.index("security.rate-limiting") :].split("</tr>", 1)[0]
    assert "needs attestation" in rate  # nothing in the cluster shows its limits


def test_unused_resources_say_the_cluster_counts_no_requests(services, cluster, run_audit):
    result = verdicts(run_audit(), "notes")["cost.unused-resources"]

    # Nothing in the Kubernetes API counts requests; recorded callers alone decide nothing.
    assert result.status == "no_evidence"
    assert "No evidence from platform metrics" in result.message
    assert "counts no requests" in result.message


def test_platform_auth_is_read_from_ingress_annotations_and_network_policies(
    services, cluster, run_audit
):
    """Before, Kubernetes always said "no evidence" here (the adapter reports no invoker
    policy). Now: a cluster-internal service fenced by a NetworkPolicy admits only the pods it
    names; an Ingress without an auth annotation admits anyone; one with ingress-nginx external
    auth checks callers first; a Traefik middleware stays undecided rather than guessed."""
    run = run_audit()
    results = {name: verdicts(run, name)["security.platform-auth"] for name in services}

    assert results["notes"].status == "pass"
    assert "NetworkPolicy notes-from-agents names who may call" in str(results["notes"].evidence)
    assert results["calendar"].status == "warning"  # the app's own check is all there is
    assert "Ingress calendar has no authentication annotation" in str(results["calendar"].evidence)

    ingress = cluster.objects["ingresses"][(NS, "calendar")]
    ingress["metadata"]["annotations"] = {
        "nginx.ingress.kubernetes.io/auth-url": "https://oauth2-proxy.mcp.svc/oauth2/auth"
    }
    guarded = verdicts(run_audit(), "calendar")["security.platform-auth"]
    assert guarded.status == "pass"
    assert "nginx.ingress.kubernetes.io/auth-url" in str(guarded.evidence)

    ingress["metadata"]["annotations"] = {
        "traefik.ingress.kubernetes.io/router.middlewares": "mcp-forward-auth@kubernetescrd"
    }
    opaque = verdicts(run_audit(), "calendar")["security.platform-auth"]
    assert opaque.status == "no_evidence"
    assert "delegates to middlewares the API does not explain" in opaque.message


def test_request_counts_come_from_the_accounts_prometheus(services, cluster, run_audit):
    """With a Prometheus URL on the account, unused-resources is decided from Istio's
    istio_requests_total (by workload) or ingress-nginx's nginx_ingress_controller_requests (by
    Service): two instant queries per namespace. A workload no source reports on stays open."""
    with FakePrometheus() as prometheus:
        CloudAccount.objects.filter(name="k8s").update(prometheus_url=prometheus.endpoint)
        prometheus.counts[("istio", NS, "notes")] = 120
        prometheus.counts[("nginx", NS, "calendar")] = 0  # a counter that stayed flat

        run = run_audit()
        notes, calendar = (
            verdicts(run, name)["cost.unused-resources"] for name in ("notes", "calendar")
        )
        assert notes.status == "pass" and "120 requests" in notes.message
        assert "istio_requests_total" in str(notes.evidence)
        assert calendar.status == "warning" and "No traffic in 7 days" in calendar.message
        assert len(prometheus.requests) == 2  # one query per source for the namespace

        prometheus.counts.clear()
        unseen = verdicts(run_audit(), "notes")["cost.unused-resources"]
        assert unseen.status == "no_evidence"
        assert "no istio_requests_total series for workload notes" in unseen.message

        prometheus.fail_next(503, 2, message="queries are disabled during startup")
        down = verdicts(run_audit(), "notes")["cost.unused-resources"]
        assert down.status == "no_evidence" and "HTTP 503 unavailable" in down.message


@pytest.mark.parametrize(
    ("provider", "url", "why"),
    [
        ("gcp", "http://prometheus.example.com:9090", "Only Kubernetes accounts"),
        ("kubernetes", "http://169.254.169.254/", "refused by the egress policy"),
        ("kubernetes", "ftp://prometheus.example.com", "must be http or https"),
    ],
)
def test_the_prometheus_url_is_checked_when_saved(provider, url, why):
    from django.core.exceptions import ValidationError

    fields = {"gcp": {"project": "p", "region": "us-central1"}, "kubernetes": {"namespace": NS}}
    account = CloudAccount(name="acct", provider=provider, prometheus_url=url, **fields[provider])
    with pytest.raises(ValidationError) as exc:
        account.full_clean()
    assert why in exc.value.message_dict["prometheus_url"][0]


def test_a_prometheus_answer_past_the_cap_is_refused_not_read_whole():
    """The Prometheus URL is operator-set: its answer is read up to a cap, never without end."""
    import httpx

    from checks.audits.readers.kubernetes import PROMETHEUS_MAX_BYTES, _capped_body

    small = httpx.Response(200, content=b'{"status": "success"}')
    assert _capped_body(small) == b'{"status": "success"}'
    huge = httpx.Response(200, content=b"x" * (PROMETHEUS_MAX_BYTES + 1))
    with pytest.raises(RuntimeError, match="exceeds 8 MiB"):
        _capped_body(huge)


def test_a_run_lists_the_namespaces_deployments_once(services, cluster, run_audit):
    cluster.clear_requests()

    results = verdicts(run_audit(), "notes")

    # The adapter's describe lists them; the evidence reader takes those, not a second list.
    listed = cluster.requests_to("GET", f"/apis/apps/v1/namespaces/{NS}/deployments")
    assert [r.path for r in listed] == [f"/apis/apps/v1/namespaces/{NS}/deployments"]
    assert results["reliability.graceful-shutdown"].status == "pass"


def _mount(cluster: FakeKubernetes, deployment: str, claim: str) -> None:
    spec = cluster.objects["deployments"][(NS, deployment)]["spec"]["template"]["spec"]
    spec.setdefault("volumes", []).append(
        {"name": "data", "persistentVolumeClaim": {"claimName": claim}}
    )


def test_encryption_at_rest_is_read_from_the_claims_storage_classes(services, cluster, run_audit):
    # GKE's PD driver with a Cloud KMS key, and EBS without `encrypted`: the first is a customer
    # key, the second cannot be told from the cluster (the account's default is an EC2 setting).
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/disks"
    cluster.add_storage_class(
        "cmek", "pd.csi.storage.gke.io", {"type": "pd-balanced", "disk-encryption-kms-key": key}
    )
    cluster.add_storage_class("gp3", "ebs.csi.aws.com", {"type": "gp3"}, default=True)
    cluster.add_claim("notes-data", storage_class="cmek")
    cluster.add_claim("calendar-data")  # no class named: the default one decides
    _mount(cluster, "notes", "notes-data")
    _mount(cluster, "calendar", "calendar-data")

    run = run_audit()
    notes = verdicts(run, "notes")["compliance.encryption-at-rest"]
    calendar = verdicts(run, "calendar")["compliance.encryption-at-rest"]

    assert notes.status == "pass" and key in notes.message
    assert "PersistentVolumeClaim notes-data (StorageClass cmek)" in str(notes.evidence)
    assert calendar.status == "needs_attestation"  # it keeps data; the key is not visible
    assert "StorageClass gp3" in calendar.message
    assert "ec2:GetEbsEncryptionByDefault" in calendar.message


def test_provider_keys_and_unreadable_storage_classes(services, cluster, run_audit):
    cluster.add_storage_class("managed-csi", "disk.csi.azure.com", {"skuName": "Premium_LRS"})
    cluster.add_claim("notes-data", storage_class="managed-csi")
    _mount(cluster, "notes", "notes-data")
    cluster.add_claim("calendar-data", storage_class="")  # bound by hand, outside any class
    _mount(cluster, "calendar", "calendar-data")

    run = run_audit()
    notes = verdicts(run, "notes")["compliance.encryption-at-rest"]
    calendar = verdicts(run, "calendar")["compliance.encryption-at-rest"]
    assert notes.status == "pass" and "Microsoft-managed keys" in notes.message
    assert calendar.status == "needs_attestation"
    assert "pre-provisioned PersistentVolume" in calendar.message

    # StorageClasses are cluster-scoped: a namespace Role cannot list them.
    cluster.fail_next(403, 10, path_contains="/storageclasses")
    refused = verdicts(run_audit(), "notes")["compliance.encryption-at-rest"]
    assert refused.status == "needs_attestation"
    assert "StorageClasses" in refused.message and "403" in refused.message
