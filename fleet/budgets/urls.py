"""Budget pages."""

from django.urls import path

from fleet.budgets import views

urlpatterns = [
    path("budgets/", views.budget_list, name="budget-list"),
    path("budgets/new/", views.budget_edit, name="budget-create"),
    path("budgets/ingest/", views.spend_ingest, name="budget-ingest"),
    path("budgets/costs.csv", views.costs_csv, name="budget-costs-csv"),
    path("budgets/<int:pk>/", views.budget_detail, name="budget-detail"),
    path("budgets/<int:pk>/edit/", views.budget_edit, name="budget-edit"),
    path("budgets/<int:pk>/delete/", views.budget_delete, name="budget-delete"),
    path("budgets/<int:pk>/sync/", views.budget_sync, name="budget-sync"),
    path(
        "services/<str:name>/cost-estimate/",
        views.service_cost_estimate,
        name="service-cost-estimate",
    ),
]
