"""Publish wake-up messages for steps, always after the transaction commits."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


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
) -> None:
    """Send one ``run_step`` message now.

    A failed publish is logged, not raised: the step row is already
    ``enqueued`` (or due for retry) and the sweeper republishes it.
    """
    from workflows.tasks import run_step

    options: dict[str, Any] = {"queue": queue_for(namespace_slug)}
    if countdown:
        options["countdown"] = countdown
    if timeout_seconds:
        # The soft limit raises inside the handler (a retryable error);
        # the hard limit kills a handler that ignores it, and the lease
        # expiry then recovers the step.
        options["soft_time_limit"] = timeout_seconds
        options["time_limit"] = timeout_seconds + settings.TASKER["LEASE_GRACE_SECONDS"]
    try:
        run_step.apply_async(args=[str(step_id)], **options)
    except Exception:
        logger.exception(
            "publish of step %s failed; the sweeper will republish", step_id
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
