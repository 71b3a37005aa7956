"""Django admin for console records (read-only audit log)."""

from django.contrib import admin

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
