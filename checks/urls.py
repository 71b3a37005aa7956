"""Health-check pages (incidents, check now, tool drift)."""

urlpatterns: list = []
