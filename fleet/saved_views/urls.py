from django.urls import path

from fleet.saved_views import views

urlpatterns = [
    path("views/", views.saved_view_list, name="saved-view-list"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="saved-view-delete"),
]
