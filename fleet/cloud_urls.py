"""Cloud operation pages: discovery, scaling settings, redeploys."""

urlpatterns: list = []
