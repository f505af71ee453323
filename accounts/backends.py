"""The authentication backend: Django's model backend, refusing usernames and addresses locked out.

Every login path calls django.contrib.auth.authenticate() (the portal's form, the admin's, any
later one), so the lockout holds for all of them; the forms check first to say why.
Not for: counting failures (accounts.signals, on user_login_failed).
"""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts.services import client_ip, login_lockout_seconds


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field())
        if login_lockout_seconds(username=username, ip=client_ip(request)):
            # PermissionDenied stops authenticate() at once: no other backend is asked.
            raise PermissionDenied("Too many failed logins.")
        return super().authenticate(request, username=username, password=password, **kwargs)

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
