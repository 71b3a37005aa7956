"""Django admin for the registry (changes here bypass the audit log, so it is read-only)."""

from django.contrib import admin

from fleet.models import CloudAccount, Dependency, Service


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CloudAccount)
class CloudAccountAdmin(ReadOnlyAdmin):
    list_display = ("name", "provider", "region", "project", "cluster", "namespace")


@admin.register(Service)
class ServiceAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "status", "environment", "team", "account")
    list_filter = ("kind", "status", "environment")
    search_fields = ("name", "team")


@admin.register(Dependency)
class DependencyAdmin(ReadOnlyAdmin):
    list_display = ("caller", "callee")
