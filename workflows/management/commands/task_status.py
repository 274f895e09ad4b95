"""``manage.py task_status TASK_ID [--json] [--show-pii]``: a task and its steps.

The command runs as a trusted system actor (it needs shell access, not a
role), but its output ends up in terminals, tickets and chat: personal data
in step results and error messages is masked as for a user without
``pii_viewer`` unless ``--show-pii`` is given. ``--json`` is the only export
Tasker has; it is masked the same way.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.pii import Redactor, task_redactor
from workflows.models import Task
from workflows.selectors import task_get_with_steps


class Command(BaseCommand):
    help = "Print a task's status and its steps."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task_id")
        parser.add_argument("--json", action="store_true", help="Print JSON.")
        parser.add_argument(
            "--show-pii",
            action="store_true",
            help="Print personal data unmasked (masked by default).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            task_id = uuid.UUID(options["task_id"])
        except ValueError as exc:
            raise CommandError(
                f"task id {options['task_id']!r} is not a UUID", returncode=2
            ) from exc
        try:
            task = task_get_with_steps(task_id=task_id)
        except Task.DoesNotExist as exc:
            raise CommandError(f"task {task_id} not found", returncode=2) from exc
        steps = list(task.steps.all())
        redactor = task_redactor(task, reveal=options["show_pii"], steps=steps)
        if options["json"]:
            body = {
                "id": str(task.pk),
                "namespace": task.namespace.slug,
                "workflow": task.definition.name,
                "version": task.definition.version,
                "status": task.status,
                "correlation_id": task.correlation_id,
                "steps": [
                    {
                        "name": s.name,
                        "status": s.status,
                        "attempts": s.attempts,
                        "results": redactor.data(s.results),
                        "error": _error_summary(s.error, redactor),
                    }
                    for s in steps
                ],
            }
            self.stdout.write(json.dumps(body, indent=2))
            return
        self.stdout.write(f"task      {task.pk}")
        self.stdout.write(f"workflow  {task.definition}")
        self.stdout.write(f"status    {task.status}")
        width = max([len(s.name) for s in steps] + [4])
        self.stdout.write(
            f"\n{'step'.ljust(width)}  {'status'.ljust(20)}  attempts  error"
        )
        for s in steps:
            error = _error_summary(s.error, redactor)
            message = f"{error['code']}: {error['message']}" if error else ""
            self.stdout.write(
                f"{s.name.ljust(width)}  {s.status.ljust(20)}  "
                f"{s.attempts}/{s.max_attempts}".ljust(width + 34)
                + f"  {message}"
            )


def _error_summary(error: dict | None, redactor: Redactor) -> dict | None:
    """Return the error without its traceback (shown in the admin instead)."""
    if not error:
        return None
    return redactor.error(
        {k: error.get(k) for k in ("class", "code", "message", "attempt")}
    )
