"""ADS Portal project wiring: settings, URLs, ASGI and the Celery app.

Domain code lives in the apps (telemetry -> detections -> triage -> validation);
this package only connects them.
"""

from .celery import app as celery_app

__all__ = ("celery_app",)
