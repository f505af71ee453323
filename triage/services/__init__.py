"""Every state change of triage, as plain functions: raising alerts, suppressions, the analyst's workflow, cases.

- alerting: matches -> alerts (grouping, suppressions applied), idempotent.
- suppressions: creating and changing suppressions under the policy that keeps analysts from blinding detection,
  previewing their impact, and suppressing alerts similar to one.
- workflow: one alert's lifecycle, assignment, comments, playbook checks, tuning requests, bulk actions.
- cases: cases of related alerts (open, add, move, merge, close).
- response: response actions (isolate a container: NetworkPolicy, manifest or Docker commands).

The names below are the package's public surface, so callers import from `triage.services`;
the modules themselves import each other directly, never through this file.
"""

from triage.services.alerting import (
    AlertOutcome,
    primary_strategy,
    raise_alerts,
    raise_alerts_for_run,
    raise_pending_alerts,
    severity_for,
    unaccounted,
    window_seconds,
)
from triage.services.cases import (
    add_alerts_to_case,
    assign_case,
    merge_cases,
    open_case,
    remove_alert_from_case,
    transition_case,
)
from triage.services.response import IsolationPlan, isolate_container, isolation_plan
from triage.services.suppressions import (
    PREVIEW_SCAN_LIMIT,
    SuppressionImpact,
    check_suppression_policy,
    conditions_hold,
    create_suppression,
    delete_suppression,
    disable_suppression,
    is_concrete,
    literal_pattern,
    match_value,
    may_change_suppression,
    suppress_similar,
    suppression_impact,
    suppression_preview,
    update_suppression,
)
from triage.services.workflow import (
    ALERT_TRANSITIONS,
    BulkOutcome,
    add_comment,
    assign_alert,
    assignable_users,
    bulk_apply,
    check_assignee,
    check_playbook_step,
    check_transition,
    flag_rule_for_tuning,
    playbook_for,
    resolve_tuning_request,
    transition_alert,
)

__all__ = [
    "PREVIEW_SCAN_LIMIT",
    "SuppressionImpact",
    "suppress_similar",
    "is_concrete",
    "literal_pattern",
    "suppression_impact",
    "check_suppression_policy",
    "delete_suppression",
    "disable_suppression",
    "may_change_suppression",
    "update_suppression",
    "ALERT_TRANSITIONS",
    "AlertOutcome",
    "BulkOutcome",
    "IsolationPlan",
    "add_alerts_to_case",
    "add_comment",
    "assign_alert",
    "assign_case",
    "assignable_users",
    "bulk_apply",
    "check_assignee",
    "check_playbook_step",
    "check_transition",
    "conditions_hold",
    "create_suppression",
    "flag_rule_for_tuning",
    "isolate_container",
    "isolation_plan",
    "match_value",
    "merge_cases",
    "open_case",
    "playbook_for",
    "primary_strategy",
    "raise_alerts",
    "raise_alerts_for_run",
    "raise_pending_alerts",
    "remove_alert_from_case",
    "resolve_tuning_request",
    "severity_for",
    "suppression_preview",
    "transition_alert",
    "transition_case",
    "unaccounted",
    "window_seconds",
]
