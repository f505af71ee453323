from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        from .roles import ensure_roles_after_migrate

        post_migrate.connect(ensure_roles_after_migrate, dispatch_uid="accounts.ensure_roles")

        from django.contrib import admin
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from .forms import ThrottledAdminAuthenticationForm
        from .signals import count_login_failure, reset_login_failures

        user_login_failed.connect(count_login_failure, dispatch_uid="accounts.count_login_failure")
        user_logged_in.connect(reset_login_failures, dispatch_uid="accounts.reset_login_failures")
        admin.site.login_form = ThrottledAdminAuthenticationForm
