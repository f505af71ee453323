"""Account pages: the health check, and the login pages (portal and admin) answering 429 when locked out."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse

from accounts.forms import ThrottledAuthenticationForm


def healthz(request):
    return JsonResponse({"status": "ok"})


def _with_lockout_status(response):
    form = (getattr(response, "context_data", None) or {}).get("form")
    seconds = getattr(form, "retry_after_seconds", 0)
    if seconds:
        response.status_code = 429
        response["Retry-After"] = str(seconds)
    return response


class LoginView(auth_views.LoginView):
    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form):
        return _with_lockout_status(super().form_invalid(form))


@login_not_required
def admin_login(request, extra_context=None):
    """The admin's own login view (its form: accounts.forms, set in AccountsConfig), 429 when locked out."""
    return _with_lockout_status(admin.site.login(request, extra_context))
