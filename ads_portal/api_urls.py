"""Version 1 of the REST API: each app contributes its routes from its `api` package."""

urlpatterns: list = []
