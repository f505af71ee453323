"""What every app's REST API shares: the permission matrix, JSON error bodies, a plain-text renderer.

Project wiring for the `api/` packages of the apps (NetBox keeps the same pieces in `netbox/api/`).
Not for: serializers or views of a domain; those live in `<app>/api/`.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, permissions, renderers, serializers
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler


class ApiErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in a sentence.")


class InvalidInputSerializer(ApiErrorSerializer):
    errors = serializers.JSONField(required=False, help_text="The problems by field, when there are several.")


# Responses every endpoint may give, for extend_schema(responses={...}).
ERRORS = {
    401: OpenApiResponse(ApiErrorSerializer, description="Not authenticated (log in: the API takes a session)."),
    403: OpenApiResponse(ApiErrorSerializer, description="Not authenticated, or the role lacks the model permission."),
}
NOT_FOUND = {404: OpenApiResponse(ApiErrorSerializer, description="No such object.")}
BAD_REQUEST = {400: OpenApiResponse(InvalidInputSerializer, description="Invalid input; `detail` says what.")}

# At most this many field problems are spelled out in an error's `detail` (all stay under `errors`).
_DETAIL_PROBLEMS = 3


class ViewAwareModelPermissions(permissions.DjangoModelPermissions):
    """Django model permissions, reading included: GET needs `view_<model>`, as in the admin and the pages.

    A view may name what its custom actions need with `action_permissions`, e.g.
    `{"transition": ["change"], "import_strategy": ["add", "change"]}`: a POST that changes an
    existing object needs `change`, not the `add` that DRF reads into every POST.
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def _queryset(self, view):
        # The model is what matters: a view's get_queryset may read (and refuse) filters first.
        if getattr(view, "queryset", None) is not None:
            return view.queryset
        return super()._queryset(view)

    def has_permission(self, request, view):
        actions = (getattr(view, "action_permissions", None) or {}).get(getattr(view, "action", None))
        if actions is None:
            return super().has_permission(request, view)
        if not request.user or not request.user.is_authenticated:
            return False
        model = self._queryset(view).model
        meta = model._meta
        return request.user.has_perms([f"{meta.app_label}.{action}_{meta.model_name}" for action in actions])


def _problems(data, prefix: str = "") -> list[str]:
    """Flatten DRF's error structure into "field: message" lines."""
    if isinstance(data, dict):
        found = []
        for key, value in data.items():
            label = "" if key in ("non_field_errors", "__all__", "detail") else f"{prefix}{key}"
            found.extend(_problems(value, f"{label}." if label else prefix))
        return found
    if isinstance(data, list):
        return [problem for item in data for problem in _problems(item, prefix)]
    text = str(data)
    return [f"{prefix[:-1]}: {text}" if prefix else text]


def api_exception_handler(exc, context):
    """DRF's handler, with every error body carrying a `detail` sentence (field errors stay under `errors`).

    Django's ValidationError, which services raise for refused state changes, becomes a 400 too,
    and a service's PermissionDenied keeps its reason (DRF would replace it with a generic one).
    """
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, DjangoPermissionDenied) and str(exc):
        exc = exceptions.PermissionDenied(detail=str(exc))
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data:
        return response
    problems = _problems(data)
    detail = "; ".join(problems[:_DETAIL_PROBLEMS]) or "The request is not valid."
    if len(problems) > _DETAIL_PROBLEMS:
        detail += f" (and {len(problems) - _DETAIL_PROBLEMS} more)"
    response.data = {"detail": detail, "errors": data}
    return response


class MarkdownRenderer(renderers.BaseRenderer):
    """Renders text as it is (an ADS document), for clients that ask for text/markdown."""

    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data.encode(self.charset) if isinstance(data, str) else data


class JsonErrorsMixin:
    """Errors are JSON even on an endpoint whose success is another format (markdown)."""

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code >= 400 and not isinstance(
            getattr(request, "accepted_renderer", None), renderers.JSONRenderer
        ):
            request.accepted_renderer = renderers.JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


def api_not_found(request, *args, **kwargs):
    """Unknown paths under /api/ answer like the rest of the API: JSON with a detail, not an HTML page."""
    from django.http import JsonResponse

    return JsonResponse({"detail": f"No API endpoint at {request.path}."}, status=404)


def server_error(request, *args, **kwargs):
    """handler500: JSON with a detail under /api/ (an API client cannot read an HTML page), else Django's page."""
    from django.http import JsonResponse
    from django.views.defaults import server_error as page_server_error

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error: the request could not be completed."}, status=500)
    return page_server_error(request, *args, **kwargs)
