"""Django admin for console records (read-only audit log) and the login locks."""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin

from console.audit import record_action
from console.models import ApiToken, AuditLogEntry, Job


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_label", "source", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type", "source")
    search_fields = ("actor_label", "object_repr")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at")
    readonly_fields = ("prefix", "token_hash")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "object_type", "object_id", "created_at", "finished_at")
    list_filter = ("name", "status")


class LoginAttemptAdmin(AccessAttemptAdmin):
    """Failed logins per user name and address; "Locked out" rows are the current locks.

    Deleting a row (or the "Unlock" action) lifts the lock at once, and says so in the audit log.
    """

    actions = ["unlock", "cleanup_expired_attempts"]

    @admin.action(description="Unlock (forget these failed logins)")
    def unlock(self, request, queryset) -> None:
        count = len(queryset)
        self.delete_queryset(request, queryset)
        self.message_user(request, f"Unlocked {count} login record(s).")

    def delete_model(self, request, obj: AccessAttempt) -> None:
        _record_unlock(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for attempt in queryset:
            _record_unlock(request, attempt)
        super().delete_queryset(request, queryset)


def _record_unlock(request, attempt: AccessAttempt) -> None:
    record_action(
        request.user,
        "login-unlock",
        attempt,
        source="ui",
        before={
            "username": attempt.username,
            "ip_address": attempt.ip_address,
            "failures": attempt.failures_since_start,
        },
        detail=f"Unlocked logins for user '{attempt.username}' from {attempt.ip_address}.",
    )


admin.site.register(AccessAttempt, LoginAttemptAdmin)
admin.site.register(AccessFailureLog, AccessFailureLogAdmin)
admin.site.register(AccessLog, AccessLogAdmin)
