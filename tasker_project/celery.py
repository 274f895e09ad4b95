"""The Celery application: configured from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init

from workflows.engine import limits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tasker_project.settings.base")

app = Celery("tasker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _worker_process_init(**_: object) -> None:
    """Set up a prefork worker process: step time limits, no connection ping.

    Celery's Django fixup starts every task as a new "request", so a health
    check would cost one ``SELECT 1`` per step. Without it a dead connection
    fails one wake-up instead, which ``run_step`` retries on a new
    connection (and the sweeper would republish in any case).
    """
    from django.db import connections

    for alias in connections:
        connections.settings[alias]["CONN_HEALTH_CHECKS"] = False
    # Each step's own soft and hard time limits (workflows.engine.limits).
    limits.enable()


@task_prerun.connect
@task_postrun.connect
def _recycle_connections(**_: object) -> None:
    """Treat each task as a request: keep connections by ``CONN_MAX_AGE``.

    Celery's Django fixup would close every database connection around
    every task (unless ``CELERY_DB_REUSE_MAX`` is set, see settings), which
    costs a new PostgreSQL connection per step. Django's own rule closes a
    connection only when it is too old or broke.
    """
    from django.db import close_old_connections

    close_old_connections()


@task_prerun.connect
def _forget_content_types(**_: object) -> None:
    """Look content types up afresh in each task.

    django-auditlog's entries name their model by ``ContentType``, cached
    per process; a long-lived worker would otherwise keep ids of content
    types re-created since (a test database flushed between tests). The
    cost is one SELECT in a task that writes an auditlog entry, none else.
    """
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
