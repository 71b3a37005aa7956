"""Alert, channel and silence pages."""

from django.urls import path

from console.notifications import views

urlpatterns = [
    path("alerts/", views.alert_list, name="alert-list"),
    path("alerts/<int:pk>/resolve/", views.alert_resolve, name="alert-resolve"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("alerts/<int:pk>/withdraw-acknowledgement/", views.alert_withdraw, name="alert-withdraw"),
    path("alerts/groups/<int:pk>/", views.alert_group, name="alert-group"),
    path(
        "alerts/groups/<int:pk>/acknowledge/",
        views.alert_group_acknowledge,
        name="alert-group-acknowledge",
    ),
    path(
        "alerts/groups/<int:pk>/withdraw-acknowledgement/",
        views.alert_group_withdraw,
        name="alert-group-withdraw",
    ),
    path("alerts/channels/", views.channel_list, name="alert-channel-list"),
    path("alerts/channels/new/", views.channel_edit, name="alert-channel-create"),
    path("alerts/channels/<str:name>/edit/", views.channel_edit, name="alert-channel-edit"),
    path("alerts/channels/<str:name>/delete/", views.channel_delete, name="alert-channel-delete"),
    path("alerts/channels/<str:name>/test/", views.channel_test, name="alert-channel-test"),
    path("alerts/deliveries/<int:pk>/", views.delivery_detail, name="alert-delivery"),
    path("alerts/silences/", views.silence_list, name="alert-silence-list"),
    path("alerts/silences/new/", views.silence_create, name="alert-silence-create"),
    path("alerts/silences/<int:pk>/end/", views.silence_end, name="alert-silence-end"),
]
