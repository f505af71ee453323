"""Forms of the triage pages whose input needs more than one request parameter: "suppress similar".

The form reads and checks what was posted; whether the suppression may exist at all is the
policy's decision (triage.services.check_suppression_policy), not the form's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django import forms

from triage.models import Alert, Disposition
from triage.services import is_concrete, literal_pattern

# A field name as telemetry and Sigma spell them: objectRef.resource, proc.cmdline, id.orig_h, k8s_user.
FIELD_NAME = re.compile(r"^[A-Za-z0-9_@][A-Za-z0-9_.:@/-]{0,127}$")
MAX_CONDITIONS = 40
MAX_VALUE_CHARS = 2048
DEFAULT_EXPIRY_DAYS = 7
# Values offered per matched field (a grouped alert's matches may differ, e.g. in their command lines).
PREFILL_VALUES_PER_FIELD = 5


@dataclass
class ConditionRow:
    """One `field = value` line of the form; lines of one field are alternatives (any of the values)."""

    field: str
    value: str
    chosen: bool = True
    origin: str = ""  # "entity", "matched" (the rule matched on it), or "" (added by the analyst)


class ConditionsWidget(forms.Widget):
    """Rows posted as parallel lists: cond_field, cond_value, and cond_use holding the chosen rows' numbers."""

    def value_from_datadict(self, data, files, name) -> list[ConditionRow]:
        fields = data.getlist("cond_field") if hasattr(data, "getlist") else []
        values = data.getlist("cond_value") if hasattr(data, "getlist") else []
        origins = data.getlist("cond_origin") if hasattr(data, "getlist") else []
        used = set(data.getlist("cond_use")) if hasattr(data, "getlist") else set()
        rows = []
        for position, (field_name, value) in enumerate(zip(fields, values, strict=False)):
            origin = origins[position] if position < len(origins) else ""
            rows.append(
                ConditionRow(
                    field=field_name.strip(),
                    value=value,
                    chosen=str(position) in used,
                    origin=origin if origin in ("entity", "matched") else "",
                )
            )
        return rows


class ConditionsField(forms.Field):
    widget = ConditionsWidget

    def clean(self, value: list[ConditionRow]) -> dict[str, Any]:
        chosen = [row for row in value or [] if row.chosen and (row.field or row.value.strip())]
        if not chosen:
            raise forms.ValidationError("Choose at least one condition: the fields that make these matches benign.")
        if len(chosen) > MAX_CONDITIONS:
            raise forms.ValidationError(f"At most {MAX_CONDITIONS} conditions.")
        conditions: dict[str, Any] = {}
        for row in chosen:
            if not FIELD_NAME.match(row.field):
                raise forms.ValidationError(
                    f"{row.field[:60] or '(empty)'!r} is not a field name (letters, digits and _ . : @ / -)."
                )
            if len(row.value) > MAX_VALUE_CHARS:
                raise forms.ValidationError(f"{row.field}: a value is at most {MAX_VALUE_CHARS} characters.")
            if row.field in conditions:
                previous = conditions[row.field]
                conditions[row.field] = [*(previous if isinstance(previous, list) else [previous]), row.value]
            else:
                conditions[row.field] = row.value
        return conditions


class SuppressSimilarForm(forms.Form):
    conditions = ConditionsField()
    scope = forms.ChoiceField(
        choices=[("rule", "This rule"), ("strategy", "This strategy's rules"), ("everything", "Every rule")],
        initial="rule",
    )
    reason = forms.CharField(max_length=4000, required=False, strip=True)
    expires_in_days = forms.IntegerField(min_value=1, max_value=3650, required=False, initial=DEFAULT_EXPIRY_DAYS)
    name = forms.CharField(max_length=255, required=False, strip=True)
    close_as = forms.ChoiceField(
        choices=[
            ("", "leave the alert as it is"),
            (Disposition.FALSE_POSITIVE, "close it as false positive"),
            (Disposition.BENIGN_TRUE_POSITIVE, "close it as benign true positive"),
        ],
        required=False,
    )

    def condition_rows(self) -> list[ConditionRow]:
        """The rows as posted (also when they do not validate), to show the analyst's edits back; blank ones left out."""
        rows = self.fields["conditions"].widget.value_from_datadict(self.data, self.files, "conditions")
        return [row for row in rows if row.field or row.value.strip()]


def prefilled_conditions(alert: Alert, evidence) -> list[ConditionRow]:
    """The conditions "suppress similar" starts from: the alert's entity, then every field its rule matched on.

    Values are taken from the alert's shown evidence (triage.selectors.alert_evidence), made exact
    (globs escaped); values too vague for the policy are offered but not chosen.
    """
    rows: list[ConditionRow] = []
    if alert.entity:
        rows.append(ConditionRow("entity", literal_pattern(alert.entity), is_concrete(alert.entity), "entity"))
    seen: dict[str, list[str]] = {}
    for item in evidence.items:
        for name, value in (item["matched_fields"] or {}).items():
            for single in value if isinstance(value, list) else [value]:
                if single is None or single == "" or isinstance(single, dict | list):
                    continue
                values = seen.setdefault(str(name), [])
                text = literal_pattern(single)
                if text in values or len(values) >= PREFILL_VALUES_PER_FIELD or len(text) > MAX_VALUE_CHARS:
                    continue
                values.append(text)
                rows.append(ConditionRow(str(name), text, is_concrete(single), "matched"))
    return rows[:MAX_CONDITIONS]
