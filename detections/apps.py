from django.apps import AppConfig


class DetectionsConfig(AppConfig):
    name = "detections"
    verbose_name = "Strategies and detections"

    def ready(self):
        # Register the Celery tasks in every process (not only workers): in eager mode the
        # ingest hand-off looks "detections.tasks.detect_batch" up by name in this process.
        from . import tasks  # noqa: F401
