"""Health-check pages (incidents, check now, check settings, tool drift)."""

from django.urls import path

from checks import views

urlpatterns = [
    path("incidents/", views.incidents, name="incidents"),
    path(
        "services/<str:name>/health/status/",
        views.health_status,
        name="service-health-status",
    ),
    path(
        "services/<str:name>/health/latency/",
        views.latency_chart,
        name="service-latency-chart",
    ),
    path("services/<str:name>/check/", views.check_now, name="service-check"),
    path("services/<str:name>/check/<int:job_id>/", views.check_job, name="service-check-job"),
    path("services/<str:name>/checks/settings/", views.check_settings, name="check-settings"),
    path("services/<str:name>/drift/<int:pk>/accept/", views.accept_drift, name="drift-accept"),
]
