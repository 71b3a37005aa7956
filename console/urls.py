"""URL map. Each app's pages come from its own module; the API from console.api."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from console import metrics, views
from console.api import api
from fleet.views import accounts, dashboard, dependencies, fleetfile, services

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("metrics", metrics.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("services/new/", services.service_edit, name="service-create"),
    path("services/<str:name>/", services.service_detail, name="service-detail"),
    path("services/<str:name>/edit/", services.service_edit, name="service-edit"),
    path("services/<str:name>/delete/", services.service_delete, name="service-delete"),
    path("dependencies/", dependencies.dependencies, name="dependencies"),
    path("accounts/", accounts.account_list, name="account-list"),
    path("accounts/new/", accounts.account_edit, name="account-create"),
    path("accounts/<str:name>/edit/", accounts.account_edit, name="account-edit"),
    path("accounts/<str:name>/delete/", accounts.account_delete, name="account-delete"),
    path("fleet-file/", fleetfile.fleet_import, name="fleet-import"),
    path("fleet-file/fleet.yaml", fleetfile.fleet_export, name="fleet-export"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("audit-log/", views.audit_log, name="audit-log"),
    path("tokens/", views.token_list, name="token-list"),
    path("tokens/new/", views.token_create, name="token-create"),
    path("tokens/<int:pk>/delete/", views.token_delete, name="token-delete"),
    path("", include("checks.urls")),
    path("", include("checks.audits.urls")),
    path("", include("fleet.operations.urls")),
    path("", include("fleet.budgets.urls")),
    path("", include("fleet.saved_views.urls")),
    path("", include("console.notifications.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
