"""Triage pages: the live alert queue, an alert worked through its playbook, cases, the tuning queue, the audit trail.

Views are thin: AlertFilter parses the queue's parameters, triage.selectors reads, and every
change is one call to triage.services. An action posted by htmx answers with the page pieces it
changed as out-of-band swaps (each piece is one partial with its own id), so a piece looks the
same after an action, a reload or a websocket push; without htmx the same POST redirects back.
A refused action answers 422 with the reason in the page's error area.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import yaml
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ads_portal.params import BadParameter, parse_id
from audit.selectors import audit_trail, entries_for
from detections.models import Strategy
from triage import services
from triage.filters import AlertFilter, filter_errors
from triage.forms import DEFAULT_EXPIRY_DAYS, SuppressSimilarForm, prefilled_conditions
from triage.json_view import json_lines
from triage.models import OPEN_STATUSES, Alert, Case, Disposition, ResponseAction, Severity, TuningRequest
from triage.selectors import (
    COUNT_CAP,
    GROUP_WINDOW,
    GROUPINGS,
    QUEUE_SORTS,
    alert_evidence,
    alert_groups,
    alert_queue_page,
    capped_count,
    related_alerts,
)

BULK_LIMIT = 500


# --------------------------------------------------------------------------- the queue


def alert_list(request):
    params = request.GET.copy()
    if not params.get("status"):  # the queue is the open work unless the analyst asks for closed alerts
        params["status"] = ",".join(OPEN_STATUSES)
    filterset = AlertFilter(params, queryset=Alert.objects.all(), request=request)
    sort = request.GET.get("sort", "-last_seen")
    group = request.GET.get("group", "")
    context = {
        "filterset": filterset,
        "filters": request.GET,
        "statuses": Alert.Status.choices,
        "severities": Severity.choices,
        "dispositions": [c for c in Disposition.choices if c[0]],
        "strategies": Strategy.objects.order_by("title").values_list("slug", "title"),
        "sorts": [
            ("-last_seen", "Latest activity"),
            ("last_seen", "Oldest activity"),
            ("-first_seen", "Newest first seen"),
            ("-count", "Most matches"),
        ],
        "groupings": [
            ("", "No grouping"),
            ("rule", "Group by rule"),
            ("entity", "Group by entity"),
            ("strategy", "Group by strategy"),
        ],
        "sort": sort if sort in QUEUE_SORTS else "-last_seen",
        "group": group if group in GROUPINGS else "",
        "users": services.assignable_users(),
        "open_cases": Case.objects.exclude(status=Case.Status.CLOSED).order_by("-updated_at")[:50],
        "live_query": params.urlencode(),
    }
    status = 200
    if not filterset.is_valid():
        context["filter_errors"] = filter_errors(filterset)
        context["page"] = None
        status = 400
    else:
        alerts = filterset.qs
        try:
            if context["group"]:
                context["groups"] = alert_groups(alerts, by=context["group"], window=GROUP_WINDOW)
            else:
                context["page"] = alert_queue_page(alerts, sort=context["sort"], cursor=request.GET.get("cursor", ""))
        except ValueError as bad:
            context["filter_errors"] = {"cursor": str(bad)}
            context["page"] = None
            status = 400
        # Grouped, the count says whether the groups cover every match or only the latest GROUP_WINDOW.
        context["count"], context["count_capped"] = capped_count(
            alerts, cap=GROUP_WINDOW if context["group"] else COUNT_CAP
        )
    template = (
        "triage/partials/queue_results.html"
        if request.htmx and request.htmx.target == "queue-results"
        else "triage/alert_list.html"
    )
    return render(request, template, context, status=status)


def _id_or_none(name: str, text: str) -> int | None:
    try:
        return parse_id(name, text)
    except BadParameter:
        return None


def _posted_id(request, name: str, problem: str) -> int:
    """An id posted by a form, read like the queue's query-string ids; `problem` says what to choose."""
    value = _id_or_none(name, request.POST.get(name, ""))
    if value is None:
        raise ValidationError(problem)
    return value


def _selected_alerts(request) -> list[Alert]:
    ids = [_id_or_none("alert", value) for value in request.POST.getlist("alert")[:BULK_LIMIT]]
    return list(Alert.objects.filter(pk__in=[i for i in ids if i is not None]).order_by("pk"))


def _file_in_case(request, alerts: list[Alert], *, default_title: str) -> Case:
    """Put alerts in the posted case, or in a new one (`case=new`, titled by `case_title`)."""
    if request.POST.get("case", "") == "new":
        title = request.POST.get("case_title", "") or default_title
        return services.open_case(title=title, user=request.user, alerts=alerts)
    case = get_object_or_404(Case, pk=_posted_id(request, "case", "Choose a case, or a new one."))
    services.add_alerts_to_case(case=case, alerts=alerts, user=request.user)
    return case


@require_POST
def alert_bulk(request):
    """Assign, acknowledge, close with a disposition, or add to a case: the selected alerts, each on its own."""
    alerts = _selected_alerts(request)
    action = request.POST.get("action", "")
    error = ""
    outcome = None
    try:
        if not alerts:
            raise ValidationError("Select at least one alert.")
        if action == "case":
            _file_in_case(request, alerts, default_title=alerts[0].title)
            outcome = services.BulkOutcome(changed=[a.pk for a in alerts])
        else:
            options = {}
            if action == "assign":
                options["assignee"] = _user_named(request, request.POST.get("assignee", ""))
            if action == "close":
                options.update(disposition=request.POST.get("disposition", ""), reason=request.POST.get("reason", ""))
            outcome = services.bulk_apply(alerts=alerts, action=action, user=request.user, **options)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if not request.htmx:
        if error:
            messages.error(request, error)
        elif outcome:
            messages.success(request, _bulk_summary(outcome))
        return HttpResponseRedirect(
            reverse("triage:alert_list") + ("?" + request.POST.get("query", "") if request.POST.get("query") else "")
        )
    html = render_to_string(
        "triage/partials/bulk_result.html",
        {"error": error, "outcome": outcome, "summary": _bulk_summary(outcome) if outcome else ""},
        request=request,
    )
    for alert in Alert.objects.filter(pk__in=outcome.changed if outcome else []).select_related(
        "rule", "strategy", "assignee"
    ):
        html += render_to_string("triage/partials/alert_row_oob.html", {"a": alert}, request=request)
    return HttpResponse(html, status=422 if error else 200)


def _bulk_summary(outcome) -> str:
    text = f"{len(outcome.changed)} alert(s) changed."
    if outcome.refused:
        text += f" {len(outcome.refused)} refused: " + "; ".join(
            f"#{pk}: {why}" for pk, why in list(outcome.refused.items())[:5]
        )
    return text


def _user_named(request, name: str):
    if name in ("", "none"):
        return None
    if name == "me":
        return request.user
    user = get_user_model().objects.filter(username=name, is_active=True).first()
    if user is None:
        raise ValidationError(f"No user {name!r}.")
    return user


# --------------------------------------------------------------------------- one alert


def _alert(pk) -> Alert:
    return get_object_or_404(
        Alert.objects.select_related("rule", "strategy", "assignee", "case", "closed_by", "source"), pk=pk
    )


def _timeline(alert: Alert) -> list[dict]:
    """Everything done on the alert, oldest first: audit entries, with comments shown as their text."""
    comments = {c.pk: c for c in alert.comments.select_related("author")}
    items = [
        {"kind": "comment", "at": c.created_at, "who": c.author.username if c.author else "system", "comment": c}
        for c in comments.values()
    ]
    for entry in entries_for(object_type="alert", object_ids=[alert.pk]):
        if entry.action == "alert.comment":
            continue
        items.append({"kind": "entry", "at": entry.created_at, "who": entry.actor_name, "entry": entry})
    return sorted(items, key=lambda i: i["at"])


def _alert_context(request, alert: Alert, *, evidence=None, with_isolation: bool = True) -> dict:
    return {
        "alert": alert,
        "playbook": services.playbook_for(alert),
        "timeline": _timeline(alert),
        "actions": alert.actions.select_related("taken_by"),
        "dispositions": [c for c in Disposition.choices if c[0]],
        "transitions": sorted(services.ALERT_TRANSITIONS[alert.status]),
        "users": services.assignable_users(),
        "open_cases": Case.objects.exclude(status=Case.Status.CLOSED).order_by("-updated_at")[:50],
        "tuning_requests": alert.tuning_requests.select_related("requested_by"),
        # Reading the evidence for the isolation plan costs queries: only where the actions piece is shown.
        "isolation": _isolation(alert, evidence) if with_isolation else None,
    }


def _isolation(alert: Alert, evidence):
    """The isolation the alert's evidence allows, or None when it names no container or pod we can act on."""
    try:
        return services.isolation_plan(alert=alert, evidence=evidence)
    except ValidationError:
        return None


# The pieces of the alert page an action may change, each one partial with one id.
ALERT_PIECES = {
    "header": "triage/partials/alert_header.html",
    "playbook": "triage/partials/playbook.html",
    "timeline": "triage/partials/timeline.html",
    "actions": "triage/partials/response_actions.html",
    "suppress": "triage/partials/suppress_similar.html",
}


def _answer(request, alert: Alert, pieces: list[str], *, error: str = "", notice: str = ""):
    if not request.htmx:
        if error:
            messages.error(request, error)
        elif notice:
            messages.success(request, notice)
        return HttpResponseRedirect(alert.get_absolute_url())
    alert = _alert(alert.pk)
    context = _alert_context(request, alert, with_isolation="actions" in pieces) | {"oob": True}
    if "suppress" in pieces and not error:
        context |= _suppress_state(request, alert, opened=True)
    html = render_to_string(
        "triage/partials/alert_errors.html", {"error": error, "notice": notice, "oob": True}, request=request
    )
    if not error:
        html += "".join(render_to_string(ALERT_PIECES[p], context, request=request) for p in pieces)
    return HttpResponse(html, status=422 if error else 200)


def _act(request, alert: Alert, pieces: list[str], action, notice: str = ""):
    try:
        action()
    except ValidationError as exc:
        return _answer(request, alert, pieces, error=" ".join(exc.messages))
    return _answer(request, alert, pieces, notice=notice)


def alert_detail(request, pk):
    return _alert_page(request, _alert(pk))


def _alert_page(request, alert: Alert, *, suppress: dict | None = None, status: int = 200):
    """The whole alert page; `suppress` is the suppress-similar form's state when a post without htmx shows it."""
    evidence = alert_evidence(alert)
    for item in evidence.items:
        matched = {str(k) for k in (item["matched_fields"] or {})}
        for event in item["events"]:
            # Pretty JSON as plain-text pieces, matched fields marked: the template escapes every piece.
            event["raw_lines"] = json_lines(event["raw"], item["matched_fields"])
            event["rows"] = [(name, value, name in matched) for name, value in event["fields"].items()]
    context = _alert_context(request, alert, evidence=evidence) | {
        "evidence": evidence,
        "entity": _entity_context(evidence),
        "related": related_alerts(alert),
    }
    context |= suppress or _suppress_state(request, alert, evidence=evidence, opened=_closed_as_false_positive(alert))
    return render(request, "triage/alert_detail.html", context, status=status)


ENTITY_FIELDS = (
    "container_id",
    "container_name",
    "image",
    "pod",
    "namespace",
    "workload",
    "node",
    "host",
    "user",
    "src_ip",
    "dst_ip",
)


def _entity_context(evidence) -> list[tuple[str, list[str]]]:
    """The distinct values of the entity fields across the shown events (a container, its image, pod, node, ...)."""
    seen: dict[str, list[str]] = {}
    for item in evidence.items:
        for event in item["events"]:
            for name in ENTITY_FIELDS:
                value = event["fields"].get(name)
                if value not in (None, "") and str(value) not in seen.setdefault(name, []) and len(seen[name]) < 5:
                    seen[name].append(str(value))
    return [(name, values) for name, values in seen.items() if values]


@require_POST
def alert_transition(request, pk):
    alert = _alert(pk)
    to = request.POST.get("to", "")
    # Closing as a false positive is when "suppress similar" is wanted: the answer opens its form.
    false_positive = to == Alert.Status.CLOSED and request.POST.get("disposition") == Disposition.FALSE_POSITIVE
    return _act(
        request,
        alert,
        ["header", "timeline", *(["suppress"] if false_positive else [])],
        lambda: services.transition_alert(
            alert=alert,
            to=to,
            user=request.user,
            disposition=request.POST.get("disposition", ""),
            reason=request.POST.get("reason", ""),
        ),
        notice=(
            "Closed as a false positive. To stop alerts like this one, suppress similar matches (the form is open)."
            if false_positive
            else f"Alert moved to {to.replace('_', ' ')}."
        ),
    )


@require_POST
def alert_assign(request, pk):
    alert = _alert(pk)

    def assign():
        services.assign_alert(
            alert=alert, assignee=_user_named(request, request.POST.get("assignee", "")), user=request.user
        )

    return _act(request, alert, ["header", "timeline"], assign, notice="Assignment changed.")


@require_POST
def alert_comment(request, pk):
    alert = _alert(pk)
    return _act(
        request,
        alert,
        ["timeline"],
        lambda: services.add_comment(subject=alert, body=request.POST.get("body", ""), user=request.user),
    )


def _check_step(request, subject: Alert | Case):
    """Tick or untick the posted playbook step (kind, position, done, note) of an alert or a case."""
    position = request.POST.get("position", "")
    if not position.isdigit() or len(position) > 5:
        raise ValidationError("A playbook step is named by its position (a number).")
    return services.check_playbook_step(
        subject=subject,
        kind=request.POST.get("kind", ""),
        position=int(position),
        done=request.POST.get("done") == "on",
        note=request.POST.get("note", ""),
        user=request.user,
    )


@require_POST
def alert_playbook(request, pk):
    alert = _alert(pk)
    return _act(request, alert, ["playbook", "timeline"], lambda: _check_step(request, alert))


@require_POST
def alert_isolate(request, pk):
    alert = _alert(pk)
    return _act(
        request,
        alert,
        ["actions", "timeline"],
        lambda: services.isolate_container(alert=alert, user=request.user),
        notice="Isolation recorded: see Response actions.",
    )


# A policy name is a DNS-1123 subdomain (checked when the plan was made); anything else gets a plain name.
_MANIFEST_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,200}[a-z0-9])?")


def action_manifest(request, pk, action_pk):
    """The manifest an isolation produced, as a YAML file to `kubectl apply -f`."""
    if not request.user.has_perm("triage.view_alert"):
        raise PermissionDenied("Reading a response action needs the triage.view_alert permission.")
    action = get_object_or_404(ResponseAction, pk=action_pk, alert_id=pk, result=ResponseAction.Result.MANIFEST)
    try:
        name = (yaml.safe_load(action.output) or {}).get("metadata", {}).get("name", "")
    except (yaml.YAMLError, AttributeError):
        name = ""
    if not isinstance(name, str) or not _MANIFEST_NAME.fullmatch(name):
        name = f"isolate-alert-{pk}"
    response = HttpResponse(action.output, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.yaml"'
    return response


@require_POST
def alert_flag_tuning(request, pk):
    alert = _alert(pk)
    return _act(
        request,
        alert,
        ["header", "timeline"],
        lambda: services.flag_rule_for_tuning(alert=alert, note=request.POST.get("note", ""), user=request.user),
        notice="The rule is in the engineers' tuning queue.",
    )


@require_POST
def alert_case(request, pk):
    alert = _alert(pk)

    return _act(
        request,
        alert,
        ["header", "timeline"],
        lambda: _file_in_case(request, [alert], default_title=alert.title),
        notice="Alert filed in the case.",
    )


# --------------------------------------------------------------------------- suppress similar

IMPACT_EXAMPLES = 5


def _closed_as_false_positive(alert: Alert) -> bool:
    return alert.status == Alert.Status.CLOSED and alert.disposition == Disposition.FALSE_POSITIVE


def _suppress_state(request, alert: Alert, *, evidence=None, form=None, opened: bool = False, **outcome) -> dict:
    """What the suppress-similar piece shows: the form (prefilled from the alert, or as posted) and any outcome.

    `outcome` may hold `impact` and `examples` (the preview), `token` (the previewed conditions,
    which Save needs), `errors` (by form area) and `saved` (the new suppression).
    """
    from accounts.roles import is_detection_engineer

    if form is None:
        form = SuppressSimilarForm(
            initial={
                "scope": "rule",
                "expires_in_days": DEFAULT_EXPIRY_DAYS,
                "name": f"Similar to alert #{alert.pk}: {alert.title}"[:255],
                "close_as": "" if alert.status == Alert.Status.CLOSED else Disposition.FALSE_POSITIVE,
            }
        )
        rows = prefilled_conditions(alert, evidence if evidence is not None else alert_evidence(alert))
    else:
        rows = form.condition_rows()
    engineer = is_detection_engineer(request.user)
    return {
        "suppress": {
            "form": form,
            "rows": rows,
            "opened": opened or bool(outcome),
            "engineer": engineer,
            "max_days": None if engineer else settings.SUPPRESSION_ANALYST_MAX_DAYS,
            "max_past_matches": None if engineer else settings.SUPPRESSION_ANALYST_MAX_PAST_MATCHES,
            "can_suppress": request.user.has_perm("triage.add_suppression"),
            **outcome,
        }
    }


def _preview_token(conditions: dict, scope: str) -> str:
    """Names what was previewed: Save is taken only for the conditions and scope whose impact was shown."""
    return hashlib.sha256(json.dumps([conditions, scope], sort_keys=True, default=str).encode()).hexdigest()[:24]


# Where a refusal of the service is shown in the form (check_suppression_policy names the model's fields).
SUPPRESS_ERROR_AREAS = {"rule": "scope", "strategy": "scope", "expires_at": "expires_in_days", "__all__": "general"}


def _refusal(exc: ValidationError | PermissionDenied) -> dict[str, list[str]]:
    if isinstance(exc, PermissionDenied):
        return {"general": [str(exc) or "You may not make this suppression."]}
    if hasattr(exc, "error_dict"):
        errors: dict[str, list[str]] = {}
        for name, messages_ in exc.message_dict.items():
            errors.setdefault(SUPPRESS_ERROR_AREAS.get(name, name), []).extend(messages_)
        return errors
    return {"general": list(exc.messages)}


def alert_suppress(request, pk):
    """Suppress matches similar to this alert's: GET the prefilled form, POST step=preview, then step=save."""
    alert = _alert(pk)
    if not request.user.has_perm("triage.add_suppression"):
        raise PermissionDenied("Suppressing matches needs the triage.add_suppression permission.")
    if request.method == "GET":
        return _suppress_answer(request, alert, _suppress_state(request, alert, opened=True))
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    form = SuppressSimilarForm(request.POST)
    if not form.is_valid():
        errors = {name: list(found) for name, found in form.errors.items()}
        return _suppress_answer(request, alert, _suppress_state(request, alert, form=form, errors=errors), status=422)
    data = form.cleaned_data
    conditions, scope = data["conditions"], data["scope"]
    days = data["expires_in_days"]
    expires_at = timezone.now() + timedelta(days=days) if days else None
    token = _preview_token(conditions, scope)
    errors: dict[str, list[str]] = {}
    if request.POST.get("step") == "save":
        if request.POST.get("previewed") != token:
            errors["general"] = ["These conditions have not been previewed: check their impact below, then save."]
        else:
            try:
                saved = _save_suppression(request, alert, data, expires_at)
            except (ValidationError, PermissionDenied) as refused:
                errors = _refusal(refused)
            else:
                return _suppress_saved(request, alert, saved, closed=bool(data["close_as"]))
    if scope == "strategy" and alert.strategy_id is None:
        errors.setdefault("scope", []).append("This alert has no strategy: suppress within its rule.")
        return _suppress_answer(request, alert, _suppress_state(request, alert, form=form, errors=errors), status=422)
    rule = alert.rule if scope == "rule" else None
    strategy = alert.strategy if scope == "strategy" else None
    impact = services.suppression_impact(conditions=conditions, rule=rule, strategy=strategy)
    policy: dict[str, list[str]] = {}
    try:
        services.check_suppression_policy(
            user=request.user,
            conditions=conditions,
            rule=rule,
            strategy=strategy,
            expires_at=expires_at,
            past_matches=impact.matches,
        )
    except (ValidationError, PermissionDenied) as refused:
        policy = _refusal(refused)
    for area, found in policy.items():
        errors.setdefault(area, []).extend(m for m in found if m not in errors.get(area, []))
    example_ids = list(impact.alert_matches)[:IMPACT_EXAMPLES]
    examples = sorted(
        Alert.objects.filter(pk__in=example_ids).select_related("rule"), key=lambda a: example_ids.index(a.pk)
    )
    state = _suppress_state(
        request,
        alert,
        form=form,
        impact=impact,
        examples=[(a, impact.alert_matches[a.pk]) for a in examples],
        token="" if policy else token,  # what the policy refuses cannot be saved: Save stays disabled
        errors=errors,
    )
    return _suppress_answer(request, alert, state, status=422 if errors else 200)


def _save_suppression(request, alert: Alert, data: dict, expires_at):
    """The suppression, and (when asked) the alert closed with the same reason: both or neither."""
    with transaction.atomic():
        suppression = services.suppress_similar(
            alert=alert,
            conditions=data["conditions"],
            reason=data["reason"],
            user=request.user,
            expires_at=expires_at,
            scope=data["scope"],
            name=data["name"],
        )
        if data["close_as"] and alert.status != Alert.Status.CLOSED:
            services.transition_alert(
                alert=alert,
                to=Alert.Status.CLOSED,
                user=request.user,
                disposition=data["close_as"],
                reason=data["reason"],
            )
    return suppression


def _suppress_answer(request, alert: Alert, state: dict, *, status: int = 200):
    if not request.htmx:
        return _alert_page(request, alert, suppress=state, status=status)
    context = {"alert": alert} | state
    return HttpResponse(render_to_string(ALERT_PIECES["suppress"], context, request=request), status=status)


def _suppress_saved(request, alert: Alert, suppression, *, closed: bool):
    notice = f"Suppression “{suppression.name}” saved: similar matches are counted, not alerted."
    if not request.htmx:
        messages.success(request, notice)
        return HttpResponseRedirect(alert.get_absolute_url())
    alert = _alert(alert.pk)
    hits = services.suppression_impact(
        conditions=suppression.conditions, rule=suppression.rule, strategy=suppression.strategy
    )
    context = _alert_context(request, alert, with_isolation=False) | {"oob": True}
    html = render_to_string(
        ALERT_PIECES["suppress"],
        {"alert": alert}
        | _suppress_state(
            request,
            alert,
            saved=suppression,
            saved_conditions=[
                (name, value if isinstance(value, list) else [value]) for name, value in suppression.conditions.items()
            ],
            impact=hits,
        ),
        request=request,
    )
    html += render_to_string("triage/partials/alert_errors.html", {"notice": notice, "oob": True}, request=request)
    for piece in ("timeline", *(["header"] if closed else [])):
        html += render_to_string(ALERT_PIECES[piece], context, request=request)
    return HttpResponse(html)


# --------------------------------------------------------------------------- cases


def case_list(request):
    status = request.GET.get("status", "")
    cases = Case.objects.select_related("owner").annotate(alert_count=Count("alerts")).order_by("-updated_at", "-id")
    if status in Case.Status.values:
        cases = cases.filter(status=status)
    elif status != "all":
        cases = cases.exclude(status=Case.Status.CLOSED)
    return render(
        request, "triage/case_list.html", {"cases": cases[:200], "status": status, "statuses": Case.Status.choices}
    )


def _case(pk) -> Case:
    return get_object_or_404(Case.objects.select_related("owner", "closed_by", "merged_into", "created_by"), pk=pk)


def _case_context(case: Case) -> dict:
    comments = [
        {"kind": "comment", "at": c.created_at, "who": c.author.username if c.author else "system", "comment": c}
        for c in case.comments.select_related("author")
    ]
    merged_ids = [case.pk, *case.merged.values_list("pk", flat=True)]
    entries = [
        {"kind": "entry", "at": e.created_at, "who": e.actor_name, "entry": e}
        for e in entries_for(object_type="case", object_ids=merged_ids)
        if e.action != "case.comment"
    ]
    return {
        "case": case,
        "alerts": case.alerts.select_related("rule", "strategy", "assignee").order_by("-last_seen", "-id"),
        "playbook": services.playbook_for(case),
        "timeline": sorted(comments + entries, key=lambda i: i["at"]),
        "dispositions": [c for c in Disposition.choices if c[0]],
        "users": services.assignable_users(),
        "other_cases": Case.objects.exclude(pk=case.pk).exclude(status=Case.Status.CLOSED).order_by("-updated_at")[:50],
        "merged": case.merged.all(),
    }


def case_detail(request, pk):
    return render(request, "triage/case_detail.html", _case_context(_case(pk)))


@require_POST
def case_action(request, pk):
    """Every change to a case from its page: status, owner, comment, playbook step, merge."""
    case = _case(pk)
    action = request.POST.get("action", "")
    try:
        if action == "transition":
            services.transition_case(
                case=case,
                to=request.POST.get("to", ""),
                user=request.user,
                disposition=request.POST.get("disposition", ""),
                reason=request.POST.get("reason", ""),
            )
        elif action == "assign":
            services.assign_case(
                case=case, owner=_user_named(request, request.POST.get("owner", "")), user=request.user
            )
        elif action == "comment":
            services.add_comment(subject=case, body=request.POST.get("body", ""), user=request.user)
        elif action == "playbook":
            _check_step(request, case)
        elif action == "merge":
            target = get_object_or_404(
                Case, pk=_posted_id(request, "target", "Choose the case to merge this one into.")
            )
            target = services.merge_cases(source=case, target=target, user=request.user)
            messages.success(request, f"{case.reference} merged into {target.reference}.")
            return HttpResponseRedirect(target.get_absolute_url())
        elif action == "remove":
            alert = get_object_or_404(
                Alert, pk=_posted_id(request, "alert", "Choose an alert of this case."), case=case
            )
            services.remove_alert_from_case(alert=alert, user=request.user)
        else:
            raise ValidationError(f"Unknown case action {action!r}.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return render(request, "triage/case_detail.html", _case_context(_case(pk)), status=422)
    return HttpResponseRedirect(case.get_absolute_url())


# --------------------------------------------------------------------------- engineers' tuning queue, the audit trail


def tuning_queue(request):
    status = request.GET.get("status", TuningRequest.Status.OPEN)
    requests = TuningRequest.objects.select_related("rule", "alert", "requested_by", "resolved_by")
    if status in TuningRequest.Status.values:
        requests = requests.filter(status=status)
    return render(
        request,
        "triage/tuning_queue.html",
        {
            "requests": requests[:200],
            "status": status,
            "statuses": TuningRequest.Status.choices,
            "can_resolve": request.user.has_perm("detections.change_detectionrule"),
        },
    )


@require_POST
def tuning_resolve(request, pk):
    tuning = get_object_or_404(TuningRequest, pk=pk)
    try:
        services.resolve_tuning_request(
            request=tuning,
            status=request.POST.get("status", ""),
            resolution=request.POST.get("resolution", ""),
            user=request.user,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("triage:tuning_queue"), status=303)
    return HttpResponseRedirect(reverse("triage:tuning_queue"))


AUDIT_PAGE = 100


def audit_page(request):
    entries = audit_trail(
        actor=request.GET.get("actor", "")[:150],
        object_type=request.GET.get("object_type", "")[:32],
        action=request.GET.get("action", "")[:64],
    )
    before = _id_or_none("before", request.GET.get("before", ""))
    if before is not None:
        entries = entries.filter(pk__lt=before)
    rows = list(entries.order_by("-id")[: AUDIT_PAGE + 1])
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    query = request.GET.copy()
    query.pop("before", None)
    if more:
        query["before"] = rows[-1].pk
    return render(
        request,
        "audit/trail.html",
        {
            "entries": rows,
            "next_query": query.urlencode() if more else "",
            "filters": request.GET,
            "types": ["alert", "case", "suppression", "tuning_request"],
        },
    )
