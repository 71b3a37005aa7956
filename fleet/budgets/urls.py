"""Budget pages."""

urlpatterns: list = []
