"""Cases: related alerts worked as one incident.

An alert belongs to at most one case. Adding an alert that is in another case moves it (the
trail of both cases says so); merging moves every alert of one case into another and marks the
absorbed case closed and `merged_into` the survivor, so nothing is copied and no evidence is
duplicated (evidence belongs to alerts, which move). Closing a case needs a disposition and a
reason like an alert, and closes its open alerts with them.

Not for: one alert's own lifecycle (triage.services.workflow).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import record_change
from triage.live import announce_alerts_changed
from triage.models import SEVERITY_ORDER, Alert, Case, PlaybookCheck, highest_severity
from triage.services.workflow import check_closing, require_permission, transition_alert

CASE_TRANSITIONS: dict[str, set[str]] = {
    Case.Status.OPEN: {Case.Status.IN_PROGRESS, Case.Status.CLOSED},
    Case.Status.IN_PROGRESS: {Case.Status.CLOSED},
    Case.Status.CLOSED: {Case.Status.IN_PROGRESS},
}


def _record(user, action: str, case: Case, changes=None, note: str = "") -> None:
    record_change(
        actor=user,
        action=action,
        object_type="case",
        object_id=case.pk,
        object_repr=str(case),
        changes=changes,
        note=note,
    )


def open_case(
    *, title: str, user, alerts: Iterable[Alert] = (), description: str = "", severity: str = "", owner=None
) -> Case:
    """A new case holding `alerts` (moved from any case they were in); severity defaults to their highest."""
    require_permission(user, "triage.add_case", "Opening a case")
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "A case needs a title."})
    alerts = list(alerts)
    if severity and severity not in SEVERITY_ORDER:
        raise ValidationError({"severity": f"Unknown severity {severity!r}: one of {', '.join(SEVERITY_ORDER)}."})
    with transaction.atomic():
        case = Case.objects.create(
            title=title[:255],
            description=(description or "").strip(),
            severity=severity or highest_severity(a.severity for a in alerts),
            owner=owner if owner is not None else (user if getattr(user, "pk", None) else None),
            created_by=user if getattr(user, "pk", None) else None,
        )
        _record(user, "case.open", case, changes={"title": (None, case.title), "severity": (None, case.severity)})
        if alerts:
            _move_alerts(alerts, case, user)
    return case


def _move_alerts(alerts: Iterable[Alert], case: Case, user) -> list[int]:
    """Put alerts in `case`, recording on the case they left, on `case` and on each alert."""
    moved: list[int] = []
    # Locked in id order (no deadlock between two moves), only the alert rows (the case join is outer).
    locked = Alert.objects.select_for_update(of=("self",)).filter(pk__in=[a.pk for a in alerts]).select_related("case")
    for alert in locked.order_by("pk"):
        previous = alert.case
        if previous is not None and previous.pk == case.pk:
            continue
        alert.case = case
        alert.save(update_fields=["case", "updated_at"])
        moved.append(alert.pk)
        record_change(
            actor=user,
            action="alert.case",
            object_type="alert",
            object_id=alert.pk,
            object_repr=alert.title,
            changes={"case": (previous.reference if previous else None, case.reference)},
        )
        if previous is not None:
            _record(user, "case.remove_alert", previous, note=f"alert {alert.pk} moved to {case.reference}")
    if moved:
        _record(user, "case.add_alerts", case, note="alerts " + ", ".join(str(i) for i in moved))
        announce_alerts_changed(moved)
    return moved


def add_alerts_to_case(*, case: Case, alerts: Iterable[Alert], user) -> list[int]:
    """Add (or move) alerts into an open case; returns the ids that moved. A closed case takes no alerts."""
    require_permission(user, "triage.change_case", "Adding alerts to a case")
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status == Case.Status.CLOSED:
            raise ValidationError({"case": f"{locked.reference} is closed: reopen it to add alerts."})
        moved = _move_alerts(alerts, locked, user)
        severity = highest_severity(
            [locked.severity, *Alert.objects.filter(case=locked).values_list("severity", flat=True)]
        )
        if severity != locked.severity:
            _record(user, "case.severity", locked, changes={"severity": (locked.severity, severity)})
            locked.severity = severity
        locked.save(update_fields=["severity", "updated_at"])
    return moved


def remove_alert_from_case(*, alert: Alert, user) -> None:
    require_permission(user, "triage.change_case", "Removing an alert from a case")
    with transaction.atomic():
        locked = Alert.objects.select_for_update(of=("self",)).select_related("case").get(pk=alert.pk)
        if locked.case is None:
            return
        previous = locked.case
        locked.case = None
        locked.save(update_fields=["case", "updated_at"])
        record_change(
            actor=user,
            action="alert.case",
            object_type="alert",
            object_id=locked.pk,
            object_repr=locked.title,
            changes={"case": (previous.reference, None)},
        )
        _record(user, "case.remove_alert", previous, note=f"alert {locked.pk} removed")
        announce_alerts_changed([locked.pk])
    alert.case = None


def merge_cases(*, source: Case, target: Case, user) -> Case:
    """Move every alert of `source` into `target`, carry over its playbook checks, and close `source` as merged.

    Playbook checks of `source` are kept where `target` has none for the same step, so work done
    on either case survives the merge once. Comments and the timeline stay on `source`, which
    `target`'s page links to.
    """
    require_permission(user, "triage.change_case", "Merging cases")
    if source.pk == target.pk:
        raise ValidationError({"target": "A case cannot be merged into itself."})
    with transaction.atomic():
        first, second = sorted([source.pk, target.pk])  # lock in id order: two opposite merges cannot deadlock
        locked = {c.pk: c for c in Case.objects.select_for_update().filter(pk__in=[first, second]).order_by("pk")}
        src, dst = locked[source.pk], locked[target.pk]
        for case in (src, dst):
            if case.merged_into_id is not None:
                raise ValidationError({"case": f"{case.reference} was already merged into CASE-{case.merged_into_id}."})
        if dst.status == Case.Status.CLOSED:
            raise ValidationError({"target": f"{dst.reference} is closed: reopen it before merging into it."})
        _move_alerts(list(Alert.objects.filter(case=src)), dst, user)
        taken = set(PlaybookCheck.objects.filter(case=dst).values_list("kind", "position"))
        for check in PlaybookCheck.objects.filter(case=src):
            if (check.kind, check.position) not in taken:
                check.case = dst
                check.save(update_fields=["case"])
        dst.severity = highest_severity([dst.severity, src.severity])
        dst.save(update_fields=["severity", "updated_at"])
        before = src.status
        src.merged_into = dst
        src.status = Case.Status.CLOSED
        src.closed_at = timezone.now()
        src.closed_by = user if getattr(user, "pk", None) else None
        src.close_reason = f"merged into {dst.reference}"
        src.save()
        _record(user, "case.merge", src, changes={"status": (before, src.status), "merged_into": (None, dst.reference)})
        _record(user, "case.absorb", dst, note=f"{src.reference} merged into this case")
    return dst


def transition_case(*, case: Case, to: str, user, disposition: str = "", reason: str = "") -> Case:
    """Open → In progress → Closed (Open may close directly; Closed reopens). Closing closes the case's open alerts."""
    require_permission(user, "triage.change_case", "Changing a case's status")
    if to not in Case.Status.values:
        raise ValidationError({"status": f"Unknown status {to!r}."})
    closing = to == Case.Status.CLOSED
    if closing:
        check_closing(disposition, reason)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        current = Case.Status(locked.status)
        if to == current:
            return locked
        if locked.merged_into_id is not None:
            raise ValidationError({"status": f"{locked.reference} was merged into CASE-{locked.merged_into_id}."})
        if to not in CASE_TRANSITIONS[current]:
            names = ", ".join(sorted(Case.Status(s).label for s in CASE_TRANSITIONS[current]))
            raise ValidationError({"status": f"A {current.label.lower()} case can move to: {names}; not to {to}."})
        before = (locked.status, locked.disposition, locked.close_reason)
        locked.status = to
        locked.disposition = disposition if closing else ""
        locked.close_reason = reason.strip() if closing else ""
        locked.closed_at = timezone.now() if closing else None
        locked.closed_by = user if closing and getattr(user, "pk", None) else None
        locked.save()
        _record(
            user,
            "case.close" if closing else "case.transition",
            locked,
            changes={
                "status": (before[0], locked.status),
                "disposition": (before[1], locked.disposition),
                "close_reason": (before[2], locked.close_reason),
            },
        )
        if closing:
            for alert in Alert.objects.filter(case=locked).exclude(status=Alert.Status.CLOSED):
                transition_alert(
                    alert=alert,
                    to=Alert.Status.CLOSED,
                    user=user,
                    disposition=disposition,
                    reason=f"closed with {locked.reference}: {reason.strip()}",
                )
    return locked


def assign_case(*, case: Case, owner, user) -> Case:
    require_permission(user, "triage.change_case", "Assigning a case")
    if owner is not None and not owner.has_perm("triage.change_alert"):
        raise ValidationError({"owner": f"{owner.get_username()} cannot work cases (no triage role)."})
    with transaction.atomic():
        locked = Case.objects.select_for_update(of=("self",)).select_related("owner").get(pk=case.pk)
        before = locked.owner.get_username() if locked.owner else None
        locked.owner = owner
        locked.save(update_fields=["owner", "updated_at"])
        _record(user, "case.assign", locked, changes={"owner": (before, owner.get_username() if owner else None)})
    return locked
