"""``manage.py step (retry|resolve) TASK_ID STEP_NAME [--results JSON] [--as USER]``.

The operator's shell path to the same services the admin and the API call,
so the same rules hold: roles when ``--as`` names a user, and for everyone
the separation of duties (no step is retried or resolved by hand while an
approval step it depends on is not complete).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tasker_project.core.actors import Actor
from tasker_project.core.errors import TaskerError
from workflows.models import Step
from workflows.services import step_resolve, step_retry


class Command(BaseCommand):
    help = "Retry a failed step, or resolve a pending or failed step by hand."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["retry", "resolve"])
        parser.add_argument("task_id")
        parser.add_argument("step_name")
        parser.add_argument(
            "--results",
            default=None,
            help="resolve: the step's results as a JSON object (required).",
        )
        parser.add_argument("--reason", default="")
        parser.add_argument(
            "--as",
            dest="username",
            default=None,
            help="Act as this user, with that user's roles (default: system:cli).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        step = self._step(options["task_id"], options["step_name"])
        actor = self._actor(options["username"])
        try:
            if options["action"] == "retry":
                if options["results"] is not None:
                    raise CommandError(
                        "--results applies to resolve only", returncode=2
                    )
                step = step_retry(step=step, actor=actor, reason=options["reason"])
            else:
                step = step_resolve(
                    step=step,
                    actor=actor,
                    results=self._results(options["results"]),
                    reason=options["reason"],
                )
        except TaskerError as exc:
            detail = "".join(
                f"\n  {path}: {'; '.join(msgs)}" for path, msgs in exc.fields.items()
            )
            raise CommandError(f"{exc.message}{detail}", returncode=2) from exc
        self.stdout.write(f"step '{step.name}' of task {step.task_id} is {step.status}")

    def _step(self, task_id: str, name: str) -> Step:
        try:
            task_uuid = uuid.UUID(task_id)
        except ValueError as exc:
            raise CommandError(
                f"task id {task_id!r} is not a UUID", returncode=2
            ) from exc
        step = Step.objects.filter(task_id=task_uuid, name=name).first()
        if step is None:
            raise CommandError(
                f"task {task_uuid} has no step {name!r} (or no such task)", returncode=2
            )
        return step

    def _actor(self, username: str | None) -> Actor:
        if username is None:
            return Actor.system_actor("cli")
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not user.is_active:
            raise CommandError(f"--as: no active user {username!r}", returncode=2)
        return Actor.of(user)

    def _results(self, raw: str | None) -> Any:
        if raw is None:
            raise CommandError("resolve needs --results (a JSON object)", returncode=2)
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"--results is not valid JSON: {exc}", returncode=2
            ) from exc
