"""Celery entry points: thin wrappers that take ids and call the engine.

A message is only a wake-up; the step row decides whether there is work.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from workflows.engine.executor import execute_steps
from workflows.engine.sweeper import sweep as sweep_once

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="workflows.run_step",
    ignore_result=True,
    # A dropped database connection fails the wake-up before anything was
    # claimed or after the claim committed (then the lease covers it);
    # retry it on a fresh connection rather than wait for the sweeper.
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=5,
    retry_backoff=True,
    retry_backoff_max=30,
)
def run_step(self: Task, step_id: str) -> str:
    """Claim and run one step, if it is still waiting to run; maybe its children."""
    soft_limit = (self.request.timelimit or (None, None))[1]
    return execute_steps(
        step_id,
        max_steps=settings.TASKER["CONTINUE_MAX_STEPS"],
        soft_limit_seconds=soft_limit,
    )


@shared_task(name="workflows.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Recover due retries, lost messages and steps of dead workers.

    Routed to its own queue (``TASKER_SWEEP_QUEUE``) and sent with no
    expiry: a sweep is idempotent and cheap when there is nothing to do, so
    sweeps that piled up while no worker ran are harmless, and dropping one
    by a timestamp from another host's clock would stop recovery.
    """
    report = sweep_once().as_dict()
    if report["errors"]:
        logger.warning("sweep: %s (rows that raised are logged above)", report)
    elif any(report.values()):
        logger.info("sweep: %s", report)
    return report
