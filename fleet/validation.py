"""The registry's rules, shared by the form, the API and the fleet file.

Each function raises `django.core.exceptions.ValidationError` keyed by field name, so every way in
reports the same message against the same field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from console import egress
from fleet.operations.clouds.credentials import is_loopback

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}\Z")
NAME_HELP = (
    "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63"
)

# What each platform accepts as the name of the thing a service runs as.
RESOURCE_RULES: dict[str, tuple[re.Pattern, str]] = {
    "gcp": (
        re.compile(
            r"^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/services/)?"
            r"[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?$"
        ),
        "a Cloud Run service name: lowercase letters, digits and '-', starting with a letter, "
        "at most 49 characters (or projects/P/locations/L/services/NAME)",
    ),
    "aws": (
        re.compile(
            r"^(arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service/[A-Za-z0-9_-]+/)?"
            r"[A-Za-z][A-Za-z0-9_-]{0,254}$"
        ),
        "an ECS service name: letters, digits, '-' and '_', starting with a letter, "
        "at most 255 characters (or its service ARN)",
    ),
    "azure": (
        re.compile(r"^(?!.*--)[a-z][a-z0-9-]{0,30}[a-z0-9]$"),
        "a Container App name: 2-32 lowercase letters, digits and '-', starting with a letter, "
        "ending with a letter or digit, no '--'",
    ),
    "kubernetes": (
        re.compile(
            r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
        ),
        "a Kubernetes Deployment name (DNS-1123: lowercase letters, digits, '-' and '.', "
        "at most 253 characters)",
    ),
}

REGION_RULES: dict[str, tuple[re.Pattern, str]] = {
    "gcp": (re.compile(r"^[a-z]+-[a-z]+\d+$"), "a Google Cloud region such as us-central1"),
    "aws": (
        re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$"),
        "an AWS region such as us-east-1",
    ),
    "azure": (re.compile(r"^[a-z0-9]+$"), "an Azure location such as westeurope"),
}

# Fields each provider needs on its account, with why.
ACCOUNT_REQUIRED: dict[str, tuple[str, ...]] = {
    "gcp": ("project", "region"),
    "aws": ("region", "cluster"),
    "azure": ("subscription", "resource_group"),
    "kubernetes": ("namespace",),
    "url": (),
}


ENDPOINT_HELP = (
    "An endpoint override is only for a local emulator on loopback (127.0.0.1, ::1, "
    "localhost): cloud credentials are never sent anywhere but the provider's own API. "
    "Leave it empty for the real cloud."
)


def validate_name(value: str, field: str = "name") -> None:
    if not NAME_RE.match(value or ""):
        raise ValidationError({field: f"'{value}' is not a valid name: use {NAME_HELP}."})


def validate_http_url(value: str, field: str) -> None:
    """Only http and https; a host is required; the egress policy must allow it (no DNS)."""
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https"):
        scheme = parts.scheme or "none"
        raise ValidationError({field: f"URL scheme must be http or https (got {scheme})."})
    if not parts.hostname:
        raise ValidationError({field: "URL has no host."})
    if problem := egress.url_problem(value):
        raise ValidationError({field: f"URL refused by the egress policy: {problem}."})


def validate_account_fields(provider: str, values: Mapping[str, str]) -> None:
    errors: dict[str, str] = {}
    for field in ACCOUNT_REQUIRED.get(provider, ()):
        if not values.get(field):
            errors[field] = f"Required for {provider} accounts."
    region = values.get("region") or ""
    if region and provider in REGION_RULES:
        pattern, help_text = REGION_RULES[provider]
        if not pattern.match(region):
            errors["region"] = f"'{region}' is not {help_text}."
    if values.get("endpoint"):
        try:
            validate_http_url(values["endpoint"], "endpoint")
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
        else:
            if not is_loopback(values["endpoint"]):
                errors["endpoint"] = ENDPOINT_HELP
    if values.get("prometheus_url"):
        if provider != "kubernetes":
            errors["prometheus_url"] = (
                "Only Kubernetes accounts read request counts from Prometheus."
            )
        else:
            try:
                validate_http_url(values["prometheus_url"], "prometheus_url")
            except ValidationError as exc:
                errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)


def validate_resource(provider: str | None, resource: str) -> None:
    """The resource id must fit the account's platform; a plain-URL service has none."""
    if not resource:
        return
    if provider is None:
        raise ValidationError({"resource": "A resource needs a cloud account to live in."})
    if provider == "url":
        raise ValidationError(
            {"resource": "Plain-URL accounts have no cloud resources; leave it empty."}
        )
    pattern, help_text = RESOURCE_RULES[provider]
    if not pattern.match(resource):
        raise ValidationError({"resource": f"'{resource}' is not {help_text}."})


# RFC 9110 section 5.6.2: a field name is a token.
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}\Z")
# Headers a probe or a webhook sets itself, or that would change how the request is framed/routed.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "te", "upgrade"}
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def header_name_problem(value: str) -> str | None:
    """Why `value` cannot be an operator-set header name (RFC 9110 token), or None."""
    if not HEADER_NAME_RE.match(value or ""):
        return (
            f"'{_CONTROL_RE.sub('?', value or '')[:100]}' is not a valid HTTP header name: use "
            "letters, digits and !#$%&'*+.^_`|~- only (RFC 9110 token), at most 100 characters."
        )
    if value.lower() in RESERVED_HEADERS:
        return f"'{value}' is set by the console itself and cannot be chosen."
    return None


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as a header value (CR, LF, NUL or other controls), or None."""
    if any(c != "\t" and _CONTROL_RE.match(c) for c in value or ""):
        return "a header value cannot contain line breaks, NUL or other control characters."
    return None


def path_problem(value: str, label: str = "Health path", example: str = "/healthz") -> str | None:
    """Why `value` is not a plain path on the service's own origin, or None."""
    if not value:
        return None
    if _CONTROL_RE.search(value):
        return f"{label} cannot contain control characters (line breaks, tabs, NUL)."
    if "\\" in value:
        return f"{label} cannot contain backslashes."
    if not value.startswith("/"):
        return f"{label} must start with '/' (for example {example})."
    if value.startswith("//"):
        return (
            f"{label} cannot start with '//': that names another host. Give only the path "
            f"(for example {example}); the host is the service's URL."
        )
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return f"{label} must be a path only (for example {example}), not a URL."
    if any(c.isspace() for c in value):
        return f"{label} cannot contain spaces; percent-encode them (%20)."
    return None


def health_path_problem(value: str) -> str | None:
    """Why `value` is not a plain health path on the service's own origin, or None."""
    return path_problem(value)


def metrics_path_problem(value: str) -> str | None:
    """Why `value` is not a plain metrics path on the service's own origin, or None."""
    return path_problem(value, "Metrics path", "/metrics")


def validate_health_path(value: str) -> None:
    if problem := health_path_problem(value):
        raise ValidationError({"health_path": problem})


def validate_metrics_path(value: str) -> None:
    if problem := metrics_path_problem(value):
        raise ValidationError({"metrics_path": problem})


def join_health_url(base_url: str, health_path: str) -> str:
    """The service URL with its path replaced by `health_path`; ValueError if the origin moves.

    Checked again here, where the URL is built, so a value that slipped past the save-time rule
    (an old row, a direct database edit) can never send the probe's credential elsewhere.
    """
    return join_service_url(base_url, health_path, health_path_problem)


def join_service_url(base_url: str, path: str, problem_of=health_path_problem) -> str:
    """The service URL with its path replaced by `path` (checked by `problem_of` first);
    ValueError if the value is refused or the origin would move."""
    if problem := problem_of(path):
        raise ValueError(problem)
    base = urlsplit(base_url)
    path, _, query = (path or "/").partition("?")
    joined = base._replace(path=path, query=query, fragment="")
    if (joined.scheme, joined.netloc) != (base.scheme, base.netloc):
        raise ValueError("the URL would leave the service's origin")
    return joined.geturl()


def validate_tags(tags: object) -> None:
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValidationError({"tags": "Tags must be a list of strings."})
    bad = [t for t in tags if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,49}\Z", t)]
    if bad:
        raise ValidationError(
            {"tags": f"Invalid tag '{bad[0]}': letters, digits, '.', '_', ':', '/', '-'."}
        )


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as a path of names (first == last), or None. Iterative DFS."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour: dict[str, int] = {}
    for start in sorted(edges):
        if colour.get(start, WHITE) != WHITE:
            continue
        stack: list[tuple[str, Iterable[str]]] = [(start, iter(sorted(edges.get(start, ()))))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                colour[node] = BLACK
            elif colour.get(child, WHITE) == GREY:
                return path[path.index(child) :] + [child]
            elif colour.get(child, WHITE) == WHITE:
                colour[child] = GREY
                path.append(child)
                stack.append((child, iter(sorted(edges.get(child, ())))))
    return None


def validate_dependencies(
    caller: str, caller_kind: str, callees: Iterable[str], graph: Mapping[str, Iterable[str]]
) -> None:
    """`caller` may call `callees`; `graph` is every other caller's edges (name -> names)."""
    callees = list(callees)
    if caller in callees:
        raise ValidationError({"depends_on": f"'{caller}' cannot depend on itself."})
    if callees and caller_kind != "agent_backend":
        raise ValidationError(
            {
                "depends_on": "Only agent backends call other services; MCP servers have no dependencies."
            }
        )
    merged = {k: list(v) for k, v in graph.items()}
    merged[caller] = callees
    cycle = find_cycle(merged)
    if cycle:
        raise ValidationError({"depends_on": "Dependency cycle: " + " → ".join(cycle) + "."})


# -- how probes reach a service: proxy and TLS (check settings and cloud accounts) ----------------

PROXY_DIRECT = "direct"
PRODUCTION_ENVIRONMENTS = frozenset({"", "production", "prod", "prd", "live"})
PROXY_HELP = (
    "http://host:port or https://host:port of a forward proxy, or 'direct' for no proxy even when "
    "the account or the worker's environment sets one"
)


def is_production(environment: str) -> bool:
    """Whether a service's `environment` field names production (empty counts as production:
    it is the default, and an unnamed environment is not proven to be a test one)."""
    return environment.strip().lower() in PRODUCTION_ENVIRONMENTS


def proxy_url_problem(value: str, auth_field: str) -> str | None:
    """Why `value` cannot be saved as a proxy setting, or None. Credentials never go in the URL:
    they belong in the secret reference `auth_field`."""
    if value == PROXY_DIRECT:
        return None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "\\" for c in value):
        return f"must be {PROXY_HELP}; it contains a space, backslash or control character."
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        return f"must be {PROXY_HELP} ({exc})."
    if "@" in parts.netloc:
        return (
            f"must not carry a user name or password (user@host): put 'user:password' in an "
            f"allowed environment variable or secret file and give its reference in {auth_field}."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be {PROXY_HELP} (got the scheme {parts.scheme or 'none'!r})."
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"must be {PROXY_HELP}, without a path, query or fragment."
    if port == 0:
        return "the proxy port must be between 1 and 65535."
    if problem := egress.current().host_problem(parts.hostname):
        return f"egress refused: {problem}"
    return None


def network_problems(values: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    """Proxy and TLS settings of a service's checks (`prefix` "") or an account's ("probe_"):
    each problem keyed by its field."""
    from console import secret_refs

    def name(field: str) -> str:
        return f"{prefix}{field}"

    errors: dict[str, str] = {}
    proxy = str(values.get(name("proxy_url")) or "")
    auth = str(values.get(name("proxy_auth_ref")) or "")
    if proxy and (problem := proxy_url_problem(proxy, name("proxy_auth_ref"))):
        errors[name("proxy_url")] = problem
    if auth:
        if not proxy or proxy == PROXY_DIRECT:
            errors[name("proxy_auth_ref")] = f"needs a proxy in {name('proxy_url')}."
        elif problem := secret_refs.ref_problem(auth):
            errors[name("proxy_auth_ref")] = problem
    what = {
        "tls_ca_bundle_ref": "CA bundle (PEM)",
        "tls_client_cert_ref": "client certificate (PEM)",
        "tls_client_key_ref": "client private key (PEM)",
    }
    for field, label in what.items():
        ref = str(values.get(name(field)) or "")
        if ref and (problem := secret_refs.file_ref_problem(ref, label)):
            errors[name(field)] = problem
    if values.get(name("tls_client_key_ref")) and not values.get(name("tls_client_cert_ref")):
        errors.setdefault(name("tls_client_cert_ref"), "a client key needs its client certificate.")
    return errors


def skip_verify_problem(environment: str) -> str | None:
    """Skipping TLS verification is refused for production services."""
    if is_production(environment):
        shown = f"'{environment}'" if environment else "empty (which counts as production)"
        return (
            f"refused: the service's environment field is {shown}. TLS verification can be "
            "skipped only for non-production environments (staging, dev, test, ...); for a "
            "private CA give its CA bundle in tls_ca_bundle_ref instead."
        )
    return None
