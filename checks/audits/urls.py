"""Audit pages (scorecard, runs, exports, diffs, attestations, settings)."""

from django.urls import path, re_path

from checks.audits import views

urlpatterns = [
    path("audits/", views.scorecard_page, name="audit-scorecard"),
    path("audits/run/", views.run_fleet, name="audit-run-fleet"),
    path("audits/runs/", views.run_list, name="audit-runs"),
    path("audits/runs/<int:pk>/", views.run_detail, name="audit-run"),
    re_path(
        r"^audits/runs/(?P<pk>[0-9]+)\.(?P<ext>json|csv|md)$",
        views.run_export,
        name="audit-export",
    ),
    path("audits/diff", views.run_diff, name="audit-diff"),
    path("audits/services/<str:name>/", views.service_page, name="audit-service"),
    path("audits/services/<str:name>/run/", views.run_service, name="audit-run-service"),
    path("audits/services/<str:name>/attest/", views.attest_service, name="audit-attest"),
    path("audits/attestations/", views.attestations, name="audit-attestations"),
    path("audits/attestations/bulk/", views.bulk_attest, name="audit-attest-bulk"),
    path(
        "audits/attestations/<int:pk>/revoke/",
        views.revoke_attestation,
        name="audit-attestation-revoke",
    ),
    path("audits/settings/", views.settings_page, name="audit-settings"),
    path("audits/settings/rules/<str:rule_id>/", views.rule_setting, name="audit-rule-setting"),
    path("audits/settings/custom/", views.custom_rule_create, name="audit-custom-create"),
    path(
        "audits/settings/custom/<int:pk>/delete/",
        views.custom_rule_delete,
        name="audit-custom-delete",
    ),
]
