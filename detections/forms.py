"""Forms for detection rules: the admin's rule form and the retro-hunt form on the rule page.

The rule form validates Sigma YAML with the same function the service saves with
(detections.services.rules.parse_sigma_rule), so the admin shows "line N: problem"
on the YAML field, and saves through save_sigma_rule so every path behaves alike.
"""

from datetime import timedelta

from django import forms
from django.utils import timezone

from detections.models import DetectionRule
from detections.services.rules import RuleValidationError, parse_sigma_rule


class DetectionRuleForm(forms.ModelForm):
    class Meta:
        model = DetectionRule
        fields = [
            "kind",
            "sigma_yaml",
            "status",
            "strategies",
            "title",
            "rule_uid",
            "name",
            "level",
            "analytic_type",
            "parameters",
            "description",
            "source_path",
        ]
        widgets = {"sigma_yaml": forms.Textarea(attrs={"rows": 28, "cols": 100, "style": "font-family:monospace"})}
        help_texts = {
            "title": "Sigma rules: taken from the YAML.",
            "rule_uid": "Sigma rules: the YAML's id.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # For Sigma rules these come from the YAML; analytics set them here.
        for name in ("title", "rule_uid"):
            self.fields[name].required = False
        self.parsed = None

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind in (DetectionRule.Kind.SIGMA, DetectionRule.Kind.SIGMA_CORRELATION):
            text = cleaned.get("sigma_yaml") or ""
            try:
                self.parsed = parse_sigma_rule(text)
            except RuleValidationError as error:
                self.add_error("sigma_yaml", str(error))
                return cleaned
            other = DetectionRule.objects.filter(rule_uid=self.parsed.rule_uid).exclude(pk=self.instance.pk)
            if other.exists():
                self.add_error("sigma_yaml", f"another rule already has the id {self.parsed.rule_uid}")
            cleaned["kind"] = self.parsed.kind
        else:
            for name in ("title", "rule_uid"):
                if not cleaned.get(name):
                    self.add_error(name, "required for analytics")
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        if self.parsed is not None:
            parsed, rule = self.parsed, self.instance
            rule.kind = parsed.kind
            rule.rule_uid = parsed.rule_uid
            rule.title = parsed.title[:255]
            rule.name = parsed.name[:255]
            rule.level = parsed.level
            rule.description = parsed.description
            rule.logsource_product = parsed.logsource_product
            rule.logsource_category = parsed.logsource_category
            rule.logsource_service = parsed.logsource_service
            rule.attack_ids = parsed.attack_ids


class RetroHuntForm(forms.Form):
    start = forms.DateTimeField(help_text="UTC, e.g. 2026-11-01 00:00")
    end = forms.DateTimeField(help_text="UTC; defaults to now")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {})
        now = timezone.now().replace(second=0, microsecond=0)
        kwargs["initial"].setdefault("end", now)
        kwargs["initial"].setdefault("start", now - timedelta(days=7))
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start >= end:
            raise forms.ValidationError("the start must be before the end")
        return cleaned
