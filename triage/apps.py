from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"
    verbose_name = "Triage"

    def ready(self):
        # Register the Celery tasks in every process: detection hands runs to
        # "triage.tasks.raise_alerts_for_run" by name, in-process when Celery is eager.
        from . import tasks  # noqa: F401
