"""The analyst's actions on an alert: move it through its lifecycle, assign it, comment, work its playbook.

One function per action; the pages, the API, the admin and bulk actions all call these, so a
rule (closing needs a disposition and a reason, a closed alert only reopens) holds everywhere.
Every function locks the alert row, records an audit entry in the same transaction, and
announces the change to live queues after commit.

Lifecycle: New → Acknowledged → In progress → Closed; New and Acknowledged may close directly
(a quick false positive needs no "in progress"), Closed reopens to In progress. Timestamps feed
the statistics: `acknowledged_at` is the first time an analyst moved the alert off New (mean
time to acknowledge), `closed_at`/`closed_by` the last close (cleared on reopen).

Not for: raising alerts (triage.services.alerting) or cases (triage.services.cases).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record_change
from triage.live import announce_alerts_changed
from triage.models import Alert, Case, Comment, Disposition, PlaybookCheck, TuningRequest

ALERT_TRANSITIONS: dict[str, set[str]] = {
    Alert.Status.NEW: {Alert.Status.ACKNOWLEDGED, Alert.Status.CLOSED},
    Alert.Status.ACKNOWLEDGED: {Alert.Status.IN_PROGRESS, Alert.Status.CLOSED},
    Alert.Status.IN_PROGRESS: {Alert.Status.CLOSED},
    Alert.Status.CLOSED: {Alert.Status.IN_PROGRESS},  # reopening
}
# A comment or a step note is a paragraph or a page, never a dump: bounded so a page stays readable.
MAX_COMMENT_CHARS = 20_000
MAX_NOTE_CHARS = 4_000


def require_permission(user, permission: str, doing: str) -> None:
    """PermissionDenied unless `user` (None is the system itself) holds `permission`."""
    if user is not None and not user.has_perm(permission):
        raise PermissionDenied(f"{doing} needs the {permission} permission.")


def _locked(alert: Alert) -> Alert:
    # The locked row decides: two analysts moving one alert at once see each other's move.
    return Alert.objects.select_for_update().get(pk=alert.pk)


def _refresh(target: Alert, source: Alert) -> None:
    for name in (
        "status",
        "disposition",
        "close_reason",
        "assignee_id",
        "acknowledged_at",
        "closed_at",
        "closed_by_id",
    ):
        setattr(target, name, getattr(source, name))
    target._state.fields_cache.pop("assignee", None)
    target._state.fields_cache.pop("closed_by", None)


def check_closing(disposition: str, reason: str) -> None:
    """ValidationError unless the pair can close an alert or a case."""
    problems = {}
    if not disposition or disposition not in Disposition.values:
        choices = ", ".join(v for v in Disposition.values if v)
        problems["disposition"] = f"Closing needs a disposition: one of {choices}."
    if not (reason or "").strip():
        problems["reason"] = "Closing needs a reason: say what the analysis found."
    if problems:
        raise ValidationError(problems)


def check_transition(*, current: str, to: str, disposition: str = "", reason: str = "") -> None:
    """ValidationError unless the lifecycle lets an alert in `current` move to `to` (closing with a verdict).

    transition_alert checks this on the locked row; forms (the admin) call it first to show the reason
    next to the field. Moving to the current status is allowed: it changes nothing.
    """
    if to not in Alert.Status.values:
        raise ValidationError({"status": f"Unknown status {to!r}."})
    if to == Alert.Status.CLOSED and to != current:
        check_closing(disposition, reason)
    if to == current:
        return
    allowed = ALERT_TRANSITIONS[Alert.Status(current)]
    if to not in allowed:
        names = ", ".join(sorted(Alert.Status(s).label for s in allowed))
        label = Alert.Status(current).label.lower()
        raise ValidationError({"status": f"A {label} alert can move to: {names}; not to {to}."})


def check_assignee(assignee) -> None:
    """ValidationError unless `assignee` (None: nobody) may be given alerts."""
    if assignee is not None and not assignee.has_perm("triage.change_alert"):
        raise ValidationError({"assignee": f"{assignee.get_username()} cannot work alerts (no triage role)."})


def transition_alert(*, alert: Alert, to: str, user, disposition: str = "", reason: str = "") -> Alert:
    """Move an alert along its lifecycle; closing needs a disposition and a reason, reopening clears them.

    `user` is who moves it (None for the system). Raises PermissionDenied without triage.change_alert,
    ValidationError for a move the lifecycle does not allow. Moving to the current status changes nothing.
    """
    require_permission(user, "triage.change_alert", "Changing an alert's status")
    if to not in Alert.Status.values:
        raise ValidationError({"status": f"Unknown status {to!r}."})
    closing = to == Alert.Status.CLOSED
    if closing:
        check_closing(disposition, reason)
    with transaction.atomic():
        locked = _locked(alert)
        current = Alert.Status(locked.status)
        if to == current:
            _refresh(alert, locked)
            return alert
        check_transition(current=current, to=to, disposition=disposition, reason=reason)
        before = {
            "status": locked.status,
            "disposition": locked.disposition,
            "close_reason": locked.close_reason,
        }
        now = timezone.now()
        locked.status = to
        locked.disposition = disposition if closing else ""
        locked.close_reason = reason.strip() if closing else ""
        if current == Alert.Status.NEW and locked.acknowledged_at is None:
            locked.acknowledged_at = now
        locked.closed_at = now if closing else None
        locked.closed_by = user if closing and getattr(user, "pk", None) else None
        locked.save(
            update_fields=[
                "status",
                "disposition",
                "close_reason",
                "acknowledged_at",
                "closed_at",
                "closed_by",
                "updated_at",
            ]
        )
        action = "alert.close" if closing else "alert.reopen" if current == Alert.Status.CLOSED else "alert.transition"
        record_change(
            actor=user,
            action=action,
            object_type="alert",
            object_id=locked.pk,
            object_repr=locked.title,
            changes={name: (before[name], getattr(locked, name)) for name in before},
        )
        announce_alerts_changed([locked.pk])
    _refresh(alert, locked)
    return alert


def assign_alert(*, alert: Alert, assignee, user) -> Alert:
    """Give the alert to `assignee` (None unassigns). Only users who may work alerts can be assignees."""
    require_permission(user, "triage.change_alert", "Assigning an alert")
    check_assignee(assignee)
    with transaction.atomic():
        locked = _locked(alert)
        before = locked.assignee
        if (before.pk if before else None) == (assignee.pk if assignee else None):
            _refresh(alert, locked)
            return alert
        locked.assignee = assignee
        locked.save(update_fields=["assignee", "updated_at"])
        record_change(
            actor=user,
            action="alert.assign",
            object_type="alert",
            object_id=locked.pk,
            object_repr=locked.title,
            changes={
                "assignee": (before.get_username() if before else None, assignee.get_username() if assignee else None)
            },
        )
        announce_alerts_changed([locked.pk])
    _refresh(alert, locked)
    return alert


def _subject(subject: Alert | Case) -> tuple[str, dict]:
    if isinstance(subject, Alert):
        return "alert", {"alert": subject}
    if isinstance(subject, Case):
        return "case", {"case": subject}
    raise TypeError(f"comments and playbook checks belong to an alert or a case, not {type(subject).__name__}")


def add_comment(*, subject: Alert | Case, body: str, user) -> Comment:
    """A markdown comment on an alert or a case (rendered sanitized; kept as written)."""
    kind, keys = _subject(subject)
    require_permission(user, "triage.add_comment", "Commenting")
    text = (body or "").strip()
    if not text:
        raise ValidationError({"body": "A comment cannot be empty."})
    if len(text) > MAX_COMMENT_CHARS:
        raise ValidationError({"body": f"A comment is at most {MAX_COMMENT_CHARS:,} characters ({len(text):,} given)."})
    with transaction.atomic():
        comment = Comment.objects.create(author=user if getattr(user, "pk", None) else None, body=text, **keys)
        record_change(
            actor=user,
            action=f"{kind}.comment",
            object_type=kind,
            object_id=subject.pk,
            object_repr=str(subject),
            note=text[:500],
        )
        if kind == "alert":
            announce_alerts_changed([subject.pk])
    return comment


@dataclass
class PlaybookItem:
    """One step of a subject's playbook as the page shows it: the strategy's text and what was done."""

    kind: str
    position: int
    text: str
    action: str = ""
    check: PlaybookCheck | None = None

    @property
    def done(self) -> bool:
        return bool(self.check and self.check.done)


@dataclass
class Playbook:
    response: list[PlaybookItem] = field(default_factory=list)
    false_positives: list[PlaybookItem] = field(default_factory=list)

    @property
    def items(self) -> list[PlaybookItem]:
        return self.response + self.false_positives

    @property
    def done_count(self) -> int:
        return sum(1 for item in self.items if item.done)

    @property
    def percent(self) -> int:
        return round(100 * self.done_count / len(self.items)) if self.items else 0


def _strategy_of(subject: Alert | Case):
    if isinstance(subject, Alert):
        return subject.strategy
    first = subject.alerts.exclude(strategy=None).select_related("strategy").order_by("first_seen", "id").first()
    return first.strategy if first else None


def playbook_for(subject: Alert | Case) -> Playbook:
    """The Response steps and False Positives of the subject's strategy, with the checks recorded so far."""
    kind, keys = _subject(subject)
    checks = {(c.kind, c.position): c for c in PlaybookCheck.objects.filter(**keys).select_related("checked_by")}
    strategy = _strategy_of(subject)
    playbook = Playbook()
    if strategy is not None:
        for step in strategy.response_steps.all():
            key = (PlaybookCheck.Kind.RESPONSE, step.order)
            playbook.response.append(PlaybookItem(key[0], step.order, step.text, step.action, checks.pop(key, None)))
        for fp in strategy.false_positives.all():
            key = (PlaybookCheck.Kind.FALSE_POSITIVE, fp.order)
            playbook.false_positives.append(PlaybookItem(key[0], fp.order, fp.text, "", checks.pop(key, None)))
    # Checks of steps the strategy no longer has (re-imported since) are still shown: they were done.
    for (check_kind, position), check in sorted(checks.items()):
        target = playbook.response if check_kind == PlaybookCheck.Kind.RESPONSE else playbook.false_positives
        target.append(PlaybookItem(check_kind, position, check.text, "", check))
    return playbook


def check_playbook_step(
    *, subject: Alert | Case, kind: str, position: int, done: bool, user, note: str = ""
) -> PlaybookCheck:
    """Tick (or untick) one Response step or False Positive of the subject's strategy, with an optional note."""
    subject_kind, keys = _subject(subject)
    require_permission(user, "triage.change_alert", "Working a playbook")
    if kind not in PlaybookCheck.Kind.values:
        raise ValidationError(
            {"kind": f"Unknown playbook section {kind!r}: one of {', '.join(PlaybookCheck.Kind.values)}."}
        )
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ValidationError({"note": f"A step note is at most {MAX_NOTE_CHARS:,} characters."})
    strategy = _strategy_of(subject)
    step = fp = None
    if strategy is not None and kind == PlaybookCheck.Kind.RESPONSE:
        step = strategy.response_steps.filter(order=position).first()
    elif strategy is not None:
        fp = strategy.false_positives.filter(order=position).first()
    with transaction.atomic():
        check = PlaybookCheck.objects.select_for_update().filter(kind=kind, position=position, **keys).first()
        if check is None and step is None and fp is None:
            raise ValidationError(
                {"position": f"This {subject_kind}'s playbook has no {kind.replace('_', ' ')} step {position}."}
            )
        before = check.done if check else False
        if check is None:
            check = PlaybookCheck(
                kind=kind, position=position, text=(step or fp).text, response_step=step, false_positive=fp, **keys
            )
        check.done = bool(done)
        check.note = note or (check.note if check.pk else "")
        check.checked_by = user if getattr(user, "pk", None) else None
        check.checked_at = timezone.now()
        check.save()
        record_change(
            actor=user,
            action=f"{subject_kind}.playbook",
            object_type=subject_kind,
            object_id=subject.pk,
            object_repr=str(subject),
            changes={f"{kind} {position}": (before, check.done)},
            note=note,
        )
        if subject_kind == "alert":
            announce_alerts_changed([subject.pk])
    return check


def flag_rule_for_tuning(*, alert: Alert, note: str, user) -> TuningRequest:
    """Put the alert's rule in the engineers' tuning queue, with the alert as the example and the analyst's note."""
    require_permission(user, "triage.add_tuningrequest", "Flagging a rule for tuning")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say what is wrong with the rule (what it should not have matched)."})
    if len(note) > MAX_NOTE_CHARS:
        raise ValidationError({"note": f"A tuning note is at most {MAX_NOTE_CHARS:,} characters."})
    with transaction.atomic():
        request = TuningRequest.objects.create(
            rule=alert.rule, alert=alert, note=note, requested_by=user if getattr(user, "pk", None) else None
        )
        record_change(
            actor=user,
            action="alert.flag_for_tuning",
            object_type="alert",
            object_id=alert.pk,
            object_repr=alert.title,
            note=note,
        )
        record_change(
            actor=user,
            action="tuning_request.open",
            object_type="tuning_request",
            object_id=request.pk,
            object_repr=str(alert.rule),
            note=note,
        )
    return request


def resolve_tuning_request(*, request: TuningRequest, status: str, resolution: str, user) -> TuningRequest:
    """An engineer marks a tuning request done (the rule was changed) or declined, saying why."""
    require_permission(user, "detections.change_detectionrule", "Resolving a tuning request")
    if status not in (TuningRequest.Status.DONE, TuningRequest.Status.DECLINED):
        raise ValidationError({"status": "A tuning request resolves as done or declined."})
    if not (resolution or "").strip():
        raise ValidationError({"resolution": "Say what was changed, or why the rule stays as it is."})
    with transaction.atomic():
        locked = TuningRequest.objects.select_for_update().get(pk=request.pk)
        before = locked.status
        locked.status = status
        locked.resolution = resolution.strip()
        locked.resolved_by = user if getattr(user, "pk", None) else None
        locked.resolved_at = timezone.now()
        locked.save()
        record_change(
            actor=user,
            action="tuning_request.resolve",
            object_type="tuning_request",
            object_id=locked.pk,
            object_repr=str(locked.rule),
            changes={"status": (before, status)},
            note=locked.resolution,
        )
    return locked


# --------------------------------------------------------------------------- bulk


@dataclass
class BulkOutcome:
    """What a bulk action did: the alerts changed, and per alert the reason it was not."""

    changed: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def _reason(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def bulk_apply(*, alerts: Iterable[Alert], action: str, user, **options) -> BulkOutcome:
    """Apply one action (acknowledge, start, close, reopen, assign) to many alerts, each in its own transaction.

    One alert's refusal (already closed, a lifecycle step not allowed) does not stop the others;
    a missing permission stops everything at once.
    """
    actions = {
        "acknowledge": lambda a: transition_alert(alert=a, to=Alert.Status.ACKNOWLEDGED, user=user),
        "start": lambda a: transition_alert(alert=a, to=Alert.Status.IN_PROGRESS, user=user),
        "close": lambda a: transition_alert(
            alert=a,
            to=Alert.Status.CLOSED,
            user=user,
            disposition=options.get("disposition", ""),
            reason=options.get("reason", ""),
        ),
        "reopen": lambda a: transition_alert(alert=a, to=Alert.Status.IN_PROGRESS, user=user),
        "assign": lambda a: assign_alert(alert=a, assignee=options.get("assignee"), user=user),
    }
    if action not in actions:
        raise ValidationError({"action": f"Unknown bulk action {action!r}: one of {', '.join(actions)}."})
    require_permission(user, "triage.change_alert", "Bulk changes to alerts")
    if action == "close":
        check_closing(options.get("disposition", ""), options.get("reason", ""))
    outcome = BulkOutcome()
    for alert in alerts:
        try:
            actions[action](alert)
        except ValidationError as exc:
            outcome.refused[alert.pk] = _reason(exc)
        else:
            outcome.changed.append(alert.pk)
    return outcome


def assignable_users():
    """Users who may be given alerts: those holding triage.change_alert through a role or directly."""
    # One query (has_perm per user would load each user's permissions in turn on every page).
    holds = Q(groups__permissions__codename="change_alert", groups__permissions__content_type__app_label="triage") | Q(
        user_permissions__codename="change_alert", user_permissions__content_type__app_label="triage"
    )
    users = get_user_model().objects.filter(is_active=True).filter(holds | Q(is_superuser=True))
    return list(users.distinct().order_by("username"))
