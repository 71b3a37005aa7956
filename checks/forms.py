"""The check-settings form; rules live in the model and the service layer, not here."""

from __future__ import annotations

from django import forms

from checks.models import CheckConfig
from checks.services import CONFIG_FIELDS


class CheckConfigForm(forms.ModelForm):
    tool_call_arguments = forms.JSONField(
        required=False,
        label="Tool call arguments",
        help_text='JSON object, e.g. {"a": 1, "b": 2}.',
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    class Meta:
        model = CheckConfig
        fields = CONFIG_FIELDS
        labels = {
            "interval_seconds": "Interval (seconds)",
            "timeout_seconds": "Timeout per phase (seconds)",
            "slow_ms": "Slow above (ms)",
            "expected_json_field": "Expected JSON field",
            "auth_secret_ref": "Auth secret reference",
            "oauth_token_url": "OAuth token URL",
            "oauth_client_id": "OAuth client id",
            "oauth_client_secret_ref": "OAuth client secret reference",
            "oauth_scope": "OAuth scope",
            "proxy_url": "Proxy",
            "proxy_auth_ref": "Proxy credentials reference",
            "tls_ca_bundle_ref": "CA bundle reference",
            "tls_client_cert_ref": "Client certificate reference",
            "tls_client_key_ref": "Client key reference",
            "tls_skip_verify": "Skip TLS verification (non-production only)",
        }
        help_texts = {
            "interval_seconds": "How often the worker checks the service; at least 10.",
            "expected_status": "HTTP health check (agent backends, or a health path): the "
            "status it must answer.",
            "tool_call_name": "Optional: a tool every check calls, to show the server does real "
            "work.",
            "tool_call_expect": "Text the tool's result must contain (empty: any non-error "
            "result).",
            "auth_header": "Optional: a header every probe sends, e.g. Authorization.",
            "auth_secret_ref": "env:NAME or file:/path — where the worker reads the header value "
            "(an environment variable, or a mounted secret file), inside the deployer's "
            "allow-list (FLEET_SECRET_ENV_PREFIXES, FLEET_SECRET_DIRS). The value itself is never "
            "entered, stored or shown here; it is sent only to the service's own origin.",
            "oauth_token_url": "Optional, instead of an auth header: OAuth 2.0 client credentials "
            "for servers that follow the MCP authorization spec. The worker gets an access token "
            "here (cached until it expires) and sends it as a Bearer token to the service only.",
            "oauth_client_secret_ref": "env:NAME or file:/path, like the auth secret reference; "
            "sent only to the token URL.",
            "oauth_scope": "Optional: space-separated scopes to ask for.",
            "proxy_url": "Optional: http://host:port (or https://) of the forward proxy the "
            "probe goes through, or 'direct'. Empty: the account's proxy, else the worker's "
            "HTTPS_PROXY / HTTP_PROXY / NO_PROXY. Never put credentials in the URL.",
            "proxy_auth_ref": "env:NAME or file:/path holding user:password for the proxy "
            "(sent as Basic Proxy-Authorization to the proxy only).",
            "tls_ca_bundle_ref": "file:/path to a mounted PEM bundle of the CAs to trust for "
            "this service (instead of the system's); the TLS expiry check uses it too. Empty: "
            "the account's, else the system's.",
            "tls_client_cert_ref": "file:/path to a mounted PEM client certificate, for servers "
            "that require mutual TLS.",
            "tls_client_key_ref": "file:/path to its PEM private key (empty if the certificate "
            "file holds it).",
            "tls_skip_verify": "Refused when the service's environment is production (or "
            "empty). Every change is audit-logged. Prefer a CA bundle.",
        }

    def clean_tool_call_arguments(self):
        value = self.cleaned_data.get("tool_call_arguments")
        return {} if value in (None, "") else value

    def spec(self) -> dict:
        return {f: self.cleaned_data[f] for f in CONFIG_FIELDS if f in self.cleaned_data}

    def _post_clean(self) -> None:
        # Validation happens once, in checks.services.save_check_config.
        pass
