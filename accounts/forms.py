"""Login forms (the portal's and the admin's) that refuse a locked-out username or address, saying so."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from accounts.services import client_ip, login_lockout_seconds


class ThrottledLoginMixin:
    # Set when the form refuses because of the lockout; the view answers 429 with Retry-After.
    retry_after_seconds = 0

    def clean(self):
        username = self.cleaned_data.get("username")
        seconds = login_lockout_seconds(username=username, ip=client_ip(self.request))
        if seconds:
            self.retry_after_seconds = seconds
            minutes = max(1, round(seconds / 60))
            raise forms.ValidationError(
                f"Too many failed logins. Try again in about {minutes} minute{'s' if minutes != 1 else ''}.",
                code="throttled",
            )
        return super().clean()


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass
