"""Alert channel and silence pages."""

urlpatterns: list = []
