"""Publish wake-up messages for steps, always after the transaction commits.

The engine publishes by task name (:data:`RUN_STEP`), so it never imports
the Celery task module that imports it (``workflows.tasks``, an edge).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# The name ``workflows.tasks.run_step`` is registered under.
RUN_STEP = "workflows.run_step"


def queue_for(namespace_slug: str) -> str:
    """Return the Celery queue for a namespace's steps."""
    if settings.TASKER["QUEUE_PER_NAMESPACE"]:
        return f"tasker.{namespace_slug}"
    return settings.CELERY_TASK_DEFAULT_QUEUE


def publish_step(
    step_id: Any,
    *,
    namespace_slug: str,
    timeout_seconds: int | None = None,
    countdown: float | None = None,
    producer: Any = None,
) -> None:
    """Send one ``run_step`` message now.

    A failed publish is logged, not raised: the step row is already
    ``enqueued`` (or due for retry) and the sweeper republishes it.
    """
    options: dict[str, Any] = {"queue": queue_for(namespace_slug)}
    if producer is not None:
        options["producer"] = producer
    if countdown:
        options["countdown"] = countdown
    if timeout_seconds:
        # Backstops: a prefork worker enforces each step's own limits
        # (engine.limits) and may run a few steps of a chain in one message,
        # so the message's limits sit CONTINUE_SECONDS above the step's.
        # The soft limit raises inside the handler (a retryable error); the
        # hard limit kills a handler that ignores it, and the lease expiry
        # then recovers the step.
        window = settings.TASKER["CONTINUE_SECONDS"]
        options["soft_time_limit"] = timeout_seconds + window
        options["time_limit"] = (
            timeout_seconds + settings.TASKER["LEASE_GRACE_SECONDS"] + window
        )
    try:
        current_app.send_task(
            RUN_STEP, args=[str(step_id)], ignore_result=True, **options
        )
    except Exception:
        logger.exception(
            "publish of step %s failed; the sweeper will republish", step_id
        )


def publish_steps(
    steps: Sequence[tuple[Any, int | None]], *, namespace_slug: str
) -> None:
    """Send a ``run_step`` message for each ``(step_id, timeout)``, one producer."""
    if len(steps) == 1:
        publish_step(
            steps[0][0], namespace_slug=namespace_slug, timeout_seconds=steps[0][1]
        )
        return
    try:
        with current_app.producer_or_acquire() as producer:
            for step_id, timeout in steps:
                publish_step(
                    step_id,
                    namespace_slug=namespace_slug,
                    timeout_seconds=timeout,
                    producer=producer,
                )
    except Exception:
        logger.exception(
            "publishing %d steps failed; the sweeper will republish", len(steps)
        )


def publish_steps_on_commit(
    steps: Sequence[tuple[Any, int | None]], *, namespace_slug: str
) -> None:
    """Publish ``steps`` once the current transaction commits (now, if none)."""
    if steps:
        transaction.on_commit(
            partial(publish_steps, list(steps), namespace_slug=namespace_slug)
        )


def publish_on_commit(
    step_id: Any,
    *,
    namespace_slug: str,
    timeout_seconds: int | None = None,
    countdown: float | None = None,
) -> None:
    """Publish ``step_id`` once the current transaction commits."""
    transaction.on_commit(
        partial(
            publish_step,
            step_id,
            namespace_slug=namespace_slug,
            timeout_seconds=timeout_seconds,
            countdown=countdown,
        )
    )
