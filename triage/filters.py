"""The alert queue's filters, defined once: the queue page, its htmx partial, the live socket and the API list.

Every parameter is validated by a form field, so a bad value (an id past 64 bits, an unknown
status, a date that is not one) is a 400 with the parameter's name and reason, never a 500.
Filters are written to use the queue's indexes: the strategy slug and the source name are
resolved to their ids first (no join on the slug or the name), `entity` and `text` are
case-insensitive contains, which PostgreSQL serves with trigram indexes.

Not for: ordering and pages (triage.selectors.alert_queue_page).
"""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from ads_portal.params import BadParameter, parse_datetime_param, parse_id
from detections.models import Strategy
from telemetry.models import Source
from triage.models import Alert, Severity

MAX_TEXT = 256


class _ListWidget(forms.TextInput):
    """`?status=new,acknowledged` and `?status=new&status=acknowledged` read the same."""

    def value_from_datadict(self, data, files, name):
        raw = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        values = [v.strip() for item in raw if item for v in str(item).split(",") if v.strip()]
        return values or None


class _ChoiceListField(forms.Field):
    widget = _ListWidget

    def __init__(self, *, choices, **kwargs):
        self.valid = [value for value, _ in choices if value]
        super().__init__(**kwargs)

    def clean(self, value):
        values = value or []
        unknown = [v for v in values if v not in self.valid]
        if unknown:
            raise forms.ValidationError(f"Unknown value(s) {', '.join(unknown)}; one of {', '.join(self.valid)}.")
        return values


class ChoiceListFilter(filters.Filter):
    field_class = _ChoiceListField

    def filter(self, qs, value):
        return qs.filter(**{f"{self.field_name}__in": value}) if value else qs


class _ParamField(forms.CharField):
    """A parameter read by an ads_portal.params parser, so the page, the API and the socket word errors alike."""

    parse = staticmethod(parse_id)

    def clean(self, value):
        try:
            return self.parse(self.label or "value", value)
        except BadParameter as bad:
            raise forms.ValidationError(bad.message) from bad


class _DateTimeField(_ParamField):
    parse = staticmethod(parse_datetime_param)


class IdFilter(filters.Filter):
    field_class = _ParamField


class DateTimeFilter(filters.Filter):
    field_class = _DateTimeField


class AlertFilter(filters.FilterSet):
    status = ChoiceListFilter(
        choices=Alert.Status.choices, help_text="One or more (comma-separated): new, acknowledged, in_progress, closed."
    )
    severity = ChoiceListFilter(choices=Severity.choices, help_text="One or more (comma-separated) severities.")
    disposition = ChoiceListFilter(
        choices=Alert.Disposition.choices,
        help_text="Closed alerts' disposition(s): true_positive, benign_true_positive, false_positive.",
    )
    strategy = filters.CharFilter(method="filter_strategy", max_length=120, help_text="Strategy slug.")
    strategy_id = IdFilter(field_name="strategy_id", help_text="Strategy id.")
    rule = IdFilter(field_name="rule_id", help_text="Rule id.")
    case = IdFilter(field_name="case_id", help_text="Case id.")
    assignee = filters.CharFilter(
        method="filter_assignee", max_length=150, help_text="A username, `me`, or `none` for unassigned alerts."
    )
    entity = filters.CharFilter(
        field_name="entity",
        lookup_expr="icontains",
        max_length=MAX_TEXT,
        help_text="Part of the entity (container id, namespace/pod, host, address).",
    )
    entity_exact = filters.CharFilter(field_name="entity", max_length=512, help_text="The exact entity.")
    source = filters.CharFilter(
        method="filter_source", max_length=100, help_text="Telemetry source name of the alert's events."
    )
    text = filters.CharFilter(method="filter_text", max_length=MAX_TEXT, help_text="Words in the title or the entity.")
    since = DateTimeFilter(field_name="last_seen", lookup_expr="gte", help_text="last_seen at or after (ISO 8601).")
    until = DateTimeFilter(field_name="last_seen", lookup_expr="lt", help_text="last_seen before (ISO 8601).")

    class Meta:
        model = Alert
        fields: list[str] = []

    def filter_strategy(self, qs, name, value):
        strategy_id = Strategy.objects.filter(slug=value).values_list("pk", flat=True).first()
        return qs.filter(strategy_id=strategy_id) if strategy_id else qs.none()

    def filter_source(self, qs, name, value):
        source_id = Source.objects.filter(name=value).values_list("pk", flat=True).first()
        return qs.filter(source_id=source_id) if source_id else qs.none()

    def filter_assignee(self, qs, name, value):
        if value == "none":
            return qs.filter(assignee__isnull=True)
        if value == "me":
            user = getattr(self.request, "user", None)
            return qs.filter(assignee_id=user.pk) if user is not None and user.is_authenticated else qs.none()
        user_id = get_user_model().objects.filter(username=value).values_list("pk", flat=True).first()
        return qs.filter(assignee_id=user_id) if user_id else qs.none()

    def filter_text(self, qs, name, value):
        condition = Q()
        for word in value.split()[:8]:
            condition &= Q(title__icontains=word) | Q(entity__icontains=word)
        return qs.filter(condition)


def filter_errors(filterset: AlertFilter) -> dict[str, str]:
    """The form's errors as parameter -> one sentence, for a 400 page or a JSON body."""
    return {name: " ".join(str(m) for m in messages) for name, messages in filterset.errors.items()}
