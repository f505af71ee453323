"""REST API v1 of triage: the alert queue (read, assign, move along the lifecycle) and suppressions.

Thin views over triage.selectors and triage.services. Analysts read and change alerts and
may add suppressions within the bounds of triage.services.check_suppression_policy and change
their own; changing others' and deleting any needs a detection engineer.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from ads_portal.api import BAD_REQUEST, ERRORS, NOT_FOUND, ViewAwareModelPermissions
from ads_portal.params import BadParameter, parse_datetime_param
from triage.api.serializers import (
    AlertDetailSerializer,
    AlertSerializer,
    AlertUpdateSerializer,
    SuppressionPreviewQuerySerializer,
    SuppressionPreviewSerializer,
    SuppressionSerializer,
)
from triage.filters import AlertFilter, filter_errors
from triage.models import Alert, Suppression
from triage.selectors import alert_evidence
from triage.services import (
    PREVIEW_SCAN_LIMIT,
    create_suppression,
    delete_suppression,
    suppression_preview,
    transition_alert,
    update_suppression,
)


class AlertCursorPagination(CursorPagination):
    """Keyset pages over (-last_seen, -id), or (last_seen, id) with ?ordering=last_seen: stable and index-served."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-last_seen", "-id")

    def get_ordering(self, request, queryset, view):
        return ("last_seen", "id") if request.query_params.get("ordering") == "last_seen" else self.ordering


def _datetime_param(request, name: str):
    try:
        return parse_datetime_param(name, request.query_params.get(name))
    except BadParameter as bad:
        raise ValidationError({name: bad.message}) from bad


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
        # The filters are triage.filters.AlertFilter's, documented from it (the page uses the same).
        parameters=[OpenApiParameter("ordering", enum=["-last_seen", "last_seen"], description="Default -last_seen.")],
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
    # Documents AlertFilter's parameters in the schema; get_queryset applies it (and answers 400 on bad values).
    filter_backends = [DjangoFilterBackend]
    filterset_class = AlertFilter
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
        filterset = AlertFilter(self.request.query_params, queryset=Alert.objects.all(), request=self.request)
        if not filterset.is_valid():
            raise ValidationError(filter_errors(filterset))
        return filterset.qs.select_related("rule", "strategy", "assignee")

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
    """Suppressions: matches they cover are counted, not alerted. The policy is the service's (triage.services)."""

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
        # Refused by the policy (triage.services.check_suppression_policy): 400 with the reason,
        # or 403 for a suppression only a detection engineer may decide on.
        serializer.instance = create_suppression(
            name=values["name"],
            conditions=values["conditions"],
            reason=values["reason"],
            user=self.request.user,
            expires_at=values.get("expires_at"),
            rule=values.get("rule"),
            strategy=values.get("strategy"),
            enabled=values.get("enabled", True),
            owner_name=values.get("owner_name", ""),
        )
        serializer.instance.hit_count = 0

    def perform_update(self, serializer):
        hits = getattr(serializer.instance, "hit_count", 0)
        serializer.instance = update_suppression(
            suppression=serializer.instance, user=self.request.user, changes=dict(serializer.validated_data)
        )
        serializer.instance.hit_count = hits

    def perform_destroy(self, instance):
        delete_suppression(suppression=instance, user=self.request.user)

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
