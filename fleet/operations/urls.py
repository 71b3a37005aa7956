"""Cloud operation pages: discovery, scaling settings, redeploys, releases and rollbacks."""

from django.urls import path

from fleet.operations import views as clouds

urlpatterns = [
    path("services/<str:name>/redeploy/", clouds.redeploy_confirm, name="service-redeploy"),
    path("services/<str:name>/release/", clouds.release_form, name="service-release"),
    path("services/<str:name>/revisions/", clouds.revisions, name="service-revisions"),
    path("services/<str:name>/rollback/", clouds.rollback, name="service-rollback"),
    path("releases/batch/", clouds.release_batch, name="release-batch"),
    path("services/<str:name>/scaling/", clouds.scaling_edit, name="service-scaling"),
    path("services/<str:name>/scaling/apply/", clouds.scaling_apply, name="service-scaling-apply"),
    path("services/<str:name>/cloud/refresh/", clouds.cloud_sync, name="service-cloud-sync"),
    path("redeploys/", clouds.redeploy_list, name="redeploy-list"),
    path("redeploys/batch/", clouds.redeploy_batch, name="redeploy-batch"),
    path("redeploys/batches/<int:pk>/", clouds.batch_detail, name="redeploy-batch-detail"),
    path("redeploys/<int:pk>/", clouds.redeploy_detail, name="redeploy-detail"),
    path("accounts/<str:name>/discover/", clouds.discover, name="account-discover"),
]
