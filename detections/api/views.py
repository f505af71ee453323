"""REST API v1 of the detections app: strategies, rules and detection runs.

Thin views: they read the request, call detections.services (import, export, lifecycle,
quality, save_sigma_rule, start_retro_hunt) and render. Permissions are the Django
model permissions of the roles (accounts.roles): analysts read, engineers change.
Not here: ingest (telemetry.api), alerts and suppressions (triage.api).
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, parsers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ads_portal.api import (
    BAD_REQUEST,
    ERRORS,
    NOT_FOUND,
    ApiErrorSerializer,
    JsonErrorsMixin,
    MarkdownRenderer,
    ViewAwareModelPermissions,
)
from ads_portal.params import BadParameter, parse_id
from detections.ads import AdsParseError, decode_document
from detections.api.serializers import (
    LineErrorSerializer,
    QualityReportSerializer,
    RetroHuntQueuedSerializer,
    RetroHuntSerializer,
    RuleDetailSerializer,
    RuleSavedSerializer,
    RuleSerializer,
    RuleWriteSerializer,
    RunSerializer,
    StrategyExportSerializer,
    StrategyImportResultSerializer,
    StrategyImportSerializer,
    StrategySummarySerializer,
    StrategyTransitionSerializer,
)
from detections.models import DetectionRule, DetectionRun, Strategy
from detections.selectors import filter_strategies
from detections.services.detection import retro_hunt_task_id, start_retro_hunt
from detections.services.lifecycle import transition_strategy
from detections.services.quality import quality_report
from detections.services.rules import RuleValidationError, parse_sigma_rule, save_analytic_rule, save_sigma_rule
from detections.services.strategies import export_strategy_json, export_strategy_markdown, import_strategy

# An ADS document is a few kilobytes; anything this large is not one.
MAX_STRATEGY_DOCUMENT_BYTES = 1024 * 1024
MAX_SIGMA_RULE_BYTES = 256 * 1024


class TextParser(parsers.BaseParser):
    """A request body taken as it is (bytes): an ADS document or a Sigma rule sent without JSON around it."""

    media_type = "text/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


class YamlParser(TextParser):
    media_type = "application/yaml"


class XYamlParser(TextParser):
    media_type = "application/x-yaml"


def _raw_body_or_fields(request, *, json_key: str, max_bytes: int) -> tuple[bytes | None, dict | None]:
    """(the body, None) when the text was sent as it is (text/*, YAML); (None, the JSON object) otherwise."""
    data = request.data
    if isinstance(data, bytes):
        if len(data) > max_bytes:
            raise ParseError(f"The body is larger than {max_bytes} bytes.")
        return data, None
    if not isinstance(data, dict):
        raise ParseError(f'Send the text as the body (text/*), or as a JSON object {{"{json_key}": "..."}}.')
    return None, data


def _warnings(rule: DetectionRule) -> list[dict]:
    """What save_sigma_rule warned about (the rule was stored): {"line", "field", "message"} each."""
    return [{"line": w.line, "field": w.field, "message": w.message} for w in getattr(rule, "warnings", [])]


# --------------------------------------------------------------------------- strategies


@extend_schema_view(
    list=extend_schema(
        summary="List strategies",
        parameters=[
            OpenApiParameter("status", enum=Strategy.Status.values, description="Lifecycle status."),
            OpenApiParameter("priority", enum=Strategy.Priority.values),
            OpenApiParameter("tactic", description="Tactic name, as the document or the mapped techniques say."),
            OpenApiParameter("platform", description="Platform the document names."),
            OpenApiParameter("text", description="Words in the title, goal, abstract or context; or a technique id."),
        ],
        responses={200: StrategySummarySerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="A strategy as its JSON export",
        responses={200: StrategyExportSerializer, **ERRORS, **NOT_FOUND},
    ),
)
@extend_schema(tags=["strategies"])
class StrategyViewSet(JsonErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerting & Detection Strategies: read by everyone, imported and moved along their lifecycle by engineers."""

    queryset = Strategy.objects.all()
    serializer_class = StrategySummarySerializer
    permission_classes = [ViewAwareModelPermissions]
    lookup_field = "slug"
    # Importing may update an existing strategy; moving one along its lifecycle changes it.
    action_permissions = {"import_strategy": ["add", "change"], "transition": ["change"]}

    def get_queryset(self):
        if self.action != "list":
            return Strategy.objects.select_related("owner")
        params = self.request.query_params
        filters = {key: params.get(key, "").strip() for key in ("status", "priority", "tactic", "platform", "text")}
        return filter_strategies(**filters).order_by("title", "id")

    def retrieve(self, request, *args, **kwargs):
        return Response(export_strategy_json(self.get_object()))

    @extend_schema(
        summary="Import an ADS document",
        description=(
            "Send the markdown as the body (`Content-Type: text/markdown` or `text/plain`), or as JSON "
            '`{"markdown": "...", "slug": "optional"}`. The slug (the JSON field, else the document\'s front '
            "matter, else its title) is the strategy's identity: an existing strategy is updated, child rows "
            "replaced. A document that cannot be parsed stores nothing: 400 with the line of the problem."
        ),
        request={
            "text/markdown": OpenApiTypes.STR,
            "text/plain": OpenApiTypes.STR,
            "application/json": StrategyImportSerializer,
        },
        responses={
            201: OpenApiResponse(StrategyImportResultSerializer, description="Created."),
            200: OpenApiResponse(StrategyImportResultSerializer, description="An existing strategy updated."),
            400: OpenApiResponse(LineErrorSerializer, description="Not an ADS document; `line` names the line."),
            **ERRORS,
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[parsers.JSONParser, TextParser],
    )
    def import_strategy(self, request):
        body, fields = _raw_body_or_fields(request, json_key="markdown", max_bytes=MAX_STRATEGY_DOCUMENT_BYTES)
        slug = None
        if fields is not None:
            serializer = StrategyImportSerializer(data=fields)
            serializer.is_valid(raise_exception=True)
            text, slug = serializer.validated_data["markdown"], serializer.validated_data.get("slug")
            if len(text.encode()) > MAX_STRATEGY_DOCUMENT_BYTES:
                raise ParseError(f"The document is larger than {MAX_STRATEGY_DOCUMENT_BYTES} bytes.")
        try:
            if body is not None:
                text = decode_document(body)
            result = import_strategy(text=text, user=request.user, slug=slug)
        except AdsParseError as exc:
            return Response(
                {"detail": f"Not stored: line {exc.line}: {exc.message}", "line": exc.line},
                status=status.HTTP_400_BAD_REQUEST,
            )
        body = {
            "created": result.created,
            "warnings": [{"line": w.line, "message": w.message} for w in result.warnings],
            "strategy": export_strategy_json(result.strategy),
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    @extend_schema(
        summary="A strategy as canonical ADS markdown",
        responses={
            (200, "text/markdown"): OpenApiTypes.STR,
            **{(code, "application/json"): response for code, response in {**ERRORS, **NOT_FOUND}.items()},
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=[MarkdownRenderer, JSONRenderer])
    def markdown(self, request, slug=None):
        strategy = self.get_object()
        response = Response(export_strategy_markdown(strategy))
        response["Content-Disposition"] = f'inline; filename="{strategy.slug}.md"'
        return response

    @extend_schema(
        summary="Quality check of a strategy",
        description="Findings (error / warning / info) of the ADS lint, and ATT&CK technique suggestions.",
        responses={200: QualityReportSerializer, **ERRORS, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def quality(self, request, slug=None):
        report = quality_report(self.get_object())
        return Response(
            {
                "has_errors": report.has_errors,
                "findings": [
                    {
                        "severity": f.severity,
                        "code": f.code,
                        "section": f.section,
                        "message": f.message,
                        "suggestion": f.suggestion,
                    }
                    for f in report.findings
                ],
                "suggestions": [
                    {
                        "attack_id": s.technique.attack_id,
                        "name": s.technique.name,
                        "score": round(s.score, 4),
                        "reason": s.reason,
                    }
                    for s in report.suggestions
                ],
            }
        )

    @extend_schema(
        summary="Move a strategy along its lifecycle",
        description="draft → review → production → retired, along the allowed moves only; others answer 400.",
        request=StrategyTransitionSerializer,
        responses={200: StrategyExportSerializer, **BAD_REQUEST, **ERRORS, **NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, slug=None):
        strategy = self.get_object()
        serializer = StrategyTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # A refused move raises Django's ValidationError: the API's exception handler answers 400.
        transition_strategy(
            strategy=strategy,
            to=serializer.validated_data["to"],
            user=request.user,
            reason=serializer.validated_data["reason"],
        )
        return Response(export_strategy_json(strategy))


# --------------------------------------------------------------------------- rules


@extend_schema_view(
    list=extend_schema(
        summary="List detection rules",
        parameters=[
            OpenApiParameter("kind", enum=DetectionRule.Kind.values),
            OpenApiParameter("status", enum=DetectionRule.Status.values),
            OpenApiParameter("level", enum=DetectionRule.Level.values),
            OpenApiParameter("strategy", description="Slug of a linked strategy."),
            OpenApiParameter("text", description="Words in the title."),
        ],
        responses={200: RuleSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(summary="A detection rule, with its YAML", responses={200: RuleDetailSerializer, **ERRORS}),
    create=extend_schema(
        summary="Store a Sigma rule",
        description=(
            'JSON `{"sigma_yaml": "...", "status": "test", "strategies": ["slug"]}`, or the YAML itself as the body '
            "(`application/yaml`, `text/plain`). Rules are identified by their Sigma id: a rule whose id is stored "
            "already is updated (200). Invalid Sigma answers 400 with the line of the problem."
        ),
        request={
            "application/json": RuleWriteSerializer,
            "application/yaml": OpenApiTypes.STR,
            "text/plain": OpenApiTypes.STR,
        },
        responses={
            201: OpenApiResponse(RuleSavedSerializer, description="Created."),
            200: OpenApiResponse(RuleSavedSerializer, description="A rule with this Sigma id existed: updated."),
            400: OpenApiResponse(LineErrorSerializer, description="Invalid Sigma; `line` names the line."),
            **ERRORS,
        },
    ),
    update=extend_schema(
        summary="Replace a rule's Sigma YAML",
        description="The YAML must keep the rule's Sigma id.",
        request={
            "application/json": RuleWriteSerializer,
            "application/yaml": OpenApiTypes.STR,
            "text/plain": OpenApiTypes.STR,
        },
        responses={200: RuleSavedSerializer, 400: LineErrorSerializer, **ERRORS, **NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Change a rule's status or links, or its YAML",
        request=RuleWriteSerializer(partial=True),
        responses={200: RuleSavedSerializer, 400: LineErrorSerializer, **ERRORS, **NOT_FOUND},
    ),
)
@extend_schema(tags=["rules"])
class RuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Detection rules (Sigma rules, correlations, analytics); written as Sigma YAML by engineers."""

    queryset = DetectionRule.objects.all()
    permission_classes = [ViewAwareModelPermissions]
    parser_classes = [parsers.JSONParser, YamlParser, XYamlParser, TextParser]
    # A retro-hunt writes matches for the rule: the same permission as the rule page's hunt button.
    action_permissions = {"retro_hunt": ["change"]}

    def get_serializer_class(self):
        return RuleSerializer if self.action == "list" else RuleDetailSerializer

    def get_queryset(self):
        rules = DetectionRule.objects.prefetch_related(Prefetch("strategies", Strategy.objects.only("id", "slug")))
        if self.action != "list":
            return rules
        params = self.request.query_params
        for key in ("kind", "status", "level"):
            if params.get(key):
                rules = rules.filter(**{key: params[key]})
        if params.get("strategy"):
            rules = rules.filter(strategies__slug=params["strategy"]).distinct()
        if params.get("text"):
            rules = rules.filter(title__icontains=params["text"])
        return rules.order_by("title", "id")

    def _write_input(self, request, *, partial: bool) -> dict:
        body, fields = _raw_body_or_fields(request, json_key="sigma_yaml", max_bytes=MAX_SIGMA_RULE_BYTES)
        if body is not None:
            try:
                return {"sigma_yaml": body.decode("utf-8-sig")}
            except UnicodeDecodeError as exc:
                raise ParseError("The rule is not UTF-8 text.") from exc
        serializer = RuleWriteSerializer(data=fields, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _save(self, values: dict, *, rule: DetectionRule | None = None) -> DetectionRule:
        yaml_text = values.get("sigma_yaml")
        if rule is not None and rule.kind == DetectionRule.Kind.ANALYTIC:
            if yaml_text is not None:
                raise ValidationError({"detail": "This rule is an analytic: it has no Sigma YAML to replace."})
            return save_analytic_rule(
                uid=rule.rule_uid,
                title=rule.title,
                analytic_type=rule.analytic_type,
                parameters=rule.parameters,
                level=rule.level,
                description=rule.description,
                strategies=values.get("strategies", ()),
                status=values.get("status"),
            )
        if rule is not None and yaml_text is not None:
            uid = parse_sigma_rule(yaml_text).rule_uid
            if uid != rule.rule_uid:
                raise RuleValidationError(f"the YAML's id {uid} is not this rule's id {rule.rule_uid}", 1)
        return save_sigma_rule(
            yaml_text=yaml_text if yaml_text is not None else rule.sigma_yaml,
            strategies=values.get("strategies", ()),
            status=values.get("status"),
            user=self.request.user,
        )

    def handle_exception(self, exc):
        if isinstance(exc, RuleValidationError):
            return Response(
                {"detail": f"Not stored: {exc}", "line": exc.line, "problem": exc.problem},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return super().handle_exception(exc)

    def create(self, request, *args, **kwargs):
        values = self._write_input(request, partial=False)
        before = timezone.now()
        rule = self._save(values)
        # save_sigma_rule upserts by Sigma id: a rule created before this request was updated.
        created = rule.created_at >= before
        body = RuleDetailSerializer(self.get_queryset().get(pk=rule.pk), context=self.get_serializer_context()).data
        return Response(
            {**body, "warnings": _warnings(rule)}, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    def update(self, request, *args, **kwargs):
        rule = self.get_object()
        values = self._write_input(request, partial=kwargs.get("partial", False))
        saved = self._save(values, rule=rule)
        body = RuleDetailSerializer(self.get_queryset().get(pk=rule.pk), context=self.get_serializer_context()).data
        return Response({**body, "warnings": _warnings(saved)})

    @extend_schema(
        summary="Retro-hunt: run the rule over stored events",
        description=(
            "Creates the run (kind retro_hunt, status running) and queues the `detections.tasks.retro_hunt` task "
            "that fills it from events with start <= time < end (at most 31 days). Follow it at "
            "/api/v1/runs/<run>/; its new matches go to triage."
        ),
        request=RetroHuntSerializer,
        responses={
            202: RetroHuntQueuedSerializer,
            400: OpenApiResponse(ApiErrorSerializer, description="Invalid range, or not a single-event Sigma rule."),
            **ERRORS,
            **NOT_FOUND,
        },
    )
    @action(detail=True, methods=["post"], url_path="retro-hunt", parser_classes=[parsers.JSONParser])
    def retro_hunt(self, request, pk=None):
        rule = self.get_object()
        serializer = RetroHuntSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if rule.kind != DetectionRule.Kind.SIGMA:
            raise ValidationError({"detail": "Only single-event Sigma rules can be retro-hunted."})
        start, end = serializer.validated_data["start"], serializer.validated_data["end"]
        run = start_retro_hunt(rule=rule, start=start, end=end)
        runs = reverse("api-run-list") + "?" + urlencode({"kind": DetectionRun.Kind.RETRO_HUNT, "rule": rule.pk})
        return Response(
            {"task_id": retro_hunt_task_id(run.pk), "run": run.pk, "runs": request.build_absolute_uri(runs)},
            status=status.HTTP_202_ACCEPTED,
        )


# --------------------------------------------------------------------------- runs


@extend_schema_view(
    list=extend_schema(
        summary="List detection runs",
        parameters=[
            OpenApiParameter("kind", enum=DetectionRun.Kind.values),
            OpenApiParameter("status", enum=DetectionRun.Status.values),
            OpenApiParameter("rule", int, description="Id of a rule the run ran."),
        ],
        responses={200: RunSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(summary="A detection run", responses={200: RunSerializer, **ERRORS, **NOT_FOUND}),
)
@extend_schema(tags=["runs"])
class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Detection runs: streamed batches, scheduled correlations and analytics, retro-hunts (read-only)."""

    queryset = DetectionRun.objects.all()
    serializer_class = RunSerializer
    permission_classes = [ViewAwareModelPermissions]

    def get_queryset(self):
        runs = DetectionRun.objects.select_related("batch__source").prefetch_related(
            Prefetch("rules", DetectionRule.objects.only("id"))
        )
        params = self.request.query_params
        for key in ("kind", "status"):
            if params.get(key):
                runs = runs.filter(**{key: params[key]})
        try:
            rule = parse_id("rule", params.get("rule"))
        except BadParameter as bad:
            raise ValidationError({"rule": bad.message}) from bad
        if rule is not None:
            runs = runs.filter(rules__id=rule)
        return runs.order_by("-started_at", "-id")
