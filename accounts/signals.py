"""Login outcomes feed the throttle: a failure counts against the username and the address."""

from accounts.services import client_ip, record_login_failure, record_login_success


def count_login_failure(sender, credentials, request=None, **kwargs):
    record_login_failure(username=credentials.get("username"), ip=client_ip(request))


def reset_login_failures(sender, request, user, **kwargs):
    record_login_success(username=user.get_username())
