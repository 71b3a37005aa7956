"""Django admin views of audit data (the console's own settings pages are the usual route)."""

from django.contrib import admin

from checks.audits.models import (
    Attestation,
    AuditPolicy,
    AuditResult,
    AuditRun,
    CustomRule,
    RuleSetting,
)


@admin.register(AuditRun)
class AuditRunAdmin(admin.ModelAdmin):
    list_display = ("id", "scope_label", "trigger", "triggered_by_label", "status", "created_at")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in AuditRun._meta.fields]


@admin.register(AuditResult)
class AuditResultAdmin(admin.ModelAdmin):
    list_display = ("run", "service_name", "rule_id", "status", "severity")
    list_filter = ("status", "severity", "section")
    search_fields = ("service_name", "rule_id")
    readonly_fields = [f.name for f in AuditResult._meta.fields]


@admin.register(Attestation)
class AttestationAdmin(admin.ModelAdmin):
    list_display = ("rule_id", "service", "by_label", "at", "expires_at")
    search_fields = ("rule_id", "note", "by_label")
    readonly_fields = [f.name for f in Attestation._meta.fields]  # changes go through the console


admin.site.register(RuleSetting)
admin.site.register(AuditPolicy)
admin.site.register(CustomRule)
