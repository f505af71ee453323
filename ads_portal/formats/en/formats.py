"""The portal's one date format, also where a template or the admin prints a date without |when.

Analysts compare times across telemetry, alerts and the audit trail: "2026-11-20 19:39:00 UTC"
sorts and reads the same everywhere, where Django's English default ("Nov. 20, 2026, 7:39 p.m.")
does neither.
"""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
