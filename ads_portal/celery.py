"""The Celery application; tasks are discovered in each app's `tasks` module."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ads_portal.settings")

app = Celery("ads_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def send_downstream(task_name: str, *, args: list, waiting_for: str) -> None:
    """Send a task to the next room by name: telemetry -> detections -> triage never import downstream.

    In eager mode (the embedded default, no worker) `send_task` would only queue the message
    in memory, so the registered task is applied in-process instead. A task not registered
    (yet) is left to the downstream room's own sweep, which `waiting_for` names in the log.
    """
    import logging

    if app.conf.task_always_eager:
        task = app.tasks.get(task_name)
        if task is None:
            logging.getLogger(__name__).info("%s is not registered; %s left for %s", task_name, args, waiting_for)
            return
        task.apply(args=args)
    else:
        app.send_task(task_name, args=args)
