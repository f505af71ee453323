"""Every page needs a login; the API authenticates on its own terms (sessions, tokens)."""

from django.contrib.auth.middleware import LoginRequiredMiddleware


class LoginRequiredEverywhereMiddleware(LoginRequiredMiddleware):
    # The API answers 401/403 itself (DRF, ingest tokens) instead of redirecting to a form.
    exempt_prefixes = ("/api/", "/static/", "/accounts/login/", "/healthz")

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(self.exempt_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
