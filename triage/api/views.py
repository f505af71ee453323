"""REST API v1 of triage: the alert queue (read, assign, move along the lifecycle) and suppressions.

Thin views over triage.selectors and triage.services. Analysts read and change alerts and
may add and edit suppressions; deleting a suppression needs the engineer's permission.
"""

from __future__ import annotations

from datetime import UTC

from django.db import transaction
from django.db.models import Count
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from ads_portal.api import BAD_REQUEST, ERRORS, NOT_FOUND, ViewAwareModelPermissions
from triage.api.serializers import (
    AlertDetailSerializer,
    AlertSerializer,
    AlertUpdateSerializer,
    SuppressionPreviewQuerySerializer,
    SuppressionPreviewSerializer,
    SuppressionSerializer,
)
from triage.models import Alert, Severity, Suppression
from triage.selectors import alert_evidence, filter_alerts
from triage.services import create_suppression, suppression_preview, transition_alert

PREVIEW_SCAN_LIMIT = 50_000


class AlertCursorPagination(CursorPagination):
    """Keyset pages over (-last_seen, -id), or (last_seen, id) with ?ordering=last_seen: stable and index-served."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-last_seen", "-id")

    def get_ordering(self, request, queryset, view):
        return ("last_seen", "id") if request.query_params.get("ordering") == "last_seen" else self.ordering


def _datetime_param(request, name: str):
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    value = parse_datetime(text.replace(" ", "+"))  # a "+" in a query string arrives as a space
    if value is None:
        raise ValidationError({name: f"Not an ISO 8601 date-time: {text!r}."})
    if value.tzinfo is None:  # as the portal's time zone, never the server's
        value = value.replace(tzinfo=UTC)
    return value


def _list_param(request, name: str, choices: list[str]) -> list[str]:
    values = [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]
    unknown = [v for v in values if v not in choices]
    if unknown:
        raise ValidationError({name: f"Unknown value(s) {', '.join(unknown)}; one of {', '.join(choices)}."})
    return values


@extend_schema_view(
    list=extend_schema(
        summary="The alert queue",
        description="Newest activity first (ordered by last_seen, then id); cursor pages (`next`, `previous`).",
        parameters=[
            OpenApiParameter("status", description="One or more (comma-separated) of: " + ", ".join(Alert.Status)),
            OpenApiParameter("severity", description="One or more (comma-separated) of: " + ", ".join(Severity)),
            OpenApiParameter("strategy", description="Strategy slug."),
            OpenApiParameter("rule", int, description="Rule id."),
            OpenApiParameter("entity", description="Exact entity (container id, namespace/pod, host, address)."),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="last_seen at or after."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="last_seen before."),
            OpenApiParameter("ordering", enum=["-last_seen", "last_seen"], description="Default -last_seen."),
        ],
        responses={200: AlertSerializer(many=True), **BAD_REQUEST, **ERRORS},
    ),
    retrieve=extend_schema(
        summary="An alert with its evidence and its strategy's response steps",
        responses={200: AlertDetailSerializer, **ERRORS, **NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Assign an alert, or move it along its lifecycle",
        description=(
            "new → acknowledged → in_progress → closed; new and acknowledged may close directly; closed reopens "
            "to in_progress. Closing needs `disposition` and `reason` (400 otherwise)."
        ),
        request=AlertUpdateSerializer,
        responses={200: AlertDetailSerializer, **BAD_REQUEST, **ERRORS, **NOT_FOUND},
    ),
)
@extend_schema(tags=["alerts"])
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """The alert queue: analysts read, assign and move alerts along their lifecycle."""

    queryset = Alert.objects.all()
    permission_classes = [ViewAwareModelPermissions]
    pagination_class = AlertCursorPagination
    http_method_names = ["get", "patch", "head", "options"]

    def get_serializer_class(self):
        if self.action == "list":
            return AlertSerializer
        if self.action == "partial_update":
            return AlertUpdateSerializer
        return AlertDetailSerializer

    def get_queryset(self):
        if self.action != "list":
            return Alert.objects.select_related("rule", "strategy", "assignee")
        params = self.request.query_params
        rule = params.get("rule", "").strip()
        if rule and not rule.isdigit():
            raise ValidationError({"rule": "A rule id is a number."})
        return filter_alerts(
            status=_list_param(self.request, "status", list(Alert.Status.values)),
            severity=_list_param(self.request, "severity", list(Severity.values)),
            strategy=params.get("strategy", "").strip(),
            rule=int(rule) if rule else None,
            entity=params.get("entity", "").strip(),
            since=_datetime_param(self.request, "since"),
            until=_datetime_param(self.request, "until"),
        )

    def _detail(self, alert: Alert) -> dict:
        """The alert's fields plus what AlertDetailSerializer documents: evidence and response steps."""
        evidence = alert_evidence(alert)
        steps = alert.strategy.response_steps.all() if alert.strategy_id else []
        data = AlertSerializer(alert, context=self.get_serializer_context()).data
        data["evidence"] = evidence.items
        data["evidence_total"] = evidence.total
        data["evidence_truncated"] = evidence.truncated
        data["response_steps"] = [{"order": s.order, "text": s.text, "action": s.action} for s in steps]
        return data

    def retrieve(self, request, *args, **kwargs):
        return Response(self._detail(self.get_object()))

    def partial_update(self, request, *args, **kwargs):
        alert = self.get_object()
        serializer = AlertUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        with transaction.atomic():
            if "status" in values:
                # A refused move or a close without disposition/reason raises ValidationError: 400.
                transition_alert(
                    alert=alert,
                    to=values["status"],
                    user=request.user,
                    disposition=values.get("disposition", ""),
                    reason=values.get("reason", ""),
                )
            if "assignee" in values:
                alert.assignee = values["assignee"]
                alert.save(update_fields=["assignee", "updated_at"])
        return Response(self._detail(alert))


@extend_schema_view(
    list=extend_schema(summary="List suppressions", responses={200: SuppressionSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="A suppression", responses={200: SuppressionSerializer, **ERRORS, **NOT_FOUND}),
    create=extend_schema(
        summary="Suppress future matches",
        description="Matches whose fields equal all `conditions` (globs allowed) are counted, not alerted.",
        responses={201: SuppressionSerializer, **BAD_REQUEST, **ERRORS},
    ),
    update=extend_schema(responses={200: SuppressionSerializer, **BAD_REQUEST, **ERRORS, **NOT_FOUND}),
    partial_update=extend_schema(responses={200: SuppressionSerializer, **BAD_REQUEST, **ERRORS, **NOT_FOUND}),
    destroy=extend_schema(responses={204: None, **ERRORS, **NOT_FOUND}),
)
@extend_schema(tags=["suppressions"])
class SuppressionViewSet(viewsets.ModelViewSet):
    """Suppressions: matches they cover are counted, not alerted. Deleting one needs the engineer's permission."""

    queryset = Suppression.objects.all()
    serializer_class = SuppressionSerializer
    permission_classes = [ViewAwareModelPermissions]

    def get_queryset(self):
        return (
            Suppression.objects.select_related("rule", "strategy", "owner")
            .annotate(hit_count=Count("hits"))
            .order_by("name", "id")
        )

    def perform_create(self, serializer):
        values = serializer.validated_data
        serializer.instance = create_suppression(
            name=values["name"],
            conditions=values["conditions"],
            reason=values["reason"],
            owner=self.request.user,
            expires_at=values.get("expires_at"),
            rule=values.get("rule"),
            strategy=values.get("strategy"),
        )
        extra = {name: values[name] for name in ("owner_name", "enabled") if name in values}
        if extra:  # fields create_suppression leaves at their defaults
            for name, value in extra.items():
                setattr(serializer.instance, name, value)
            serializer.instance.save(update_fields=list(extra))
        serializer.instance.hit_count = 0

    @extend_schema(
        summary="How many past matches a suppression would have caught",
        parameters=[SuppressionPreviewQuerySerializer],
        responses={200: SuppressionPreviewSerializer, **BAD_REQUEST, **ERRORS},
    )
    @action(detail=False, methods=["get"])
    def preview(self, request):
        query = SuppressionPreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        count = suppression_preview(
            conditions=query.validated_data["conditions"],
            rule=query.validated_data.get("rule"),
            limit=PREVIEW_SCAN_LIMIT,
        )
        return Response({"matches": count, "scanned_limit": PREVIEW_SCAN_LIMIT})
