"""``manage.py start_task NAMESPACE NAME [--version V] (--context JSON|--example)``."""

import json

from django.core.management.base import BaseCommand, CommandError

from workflows.actors import Actor
from workflows.errors import TaskerError
from workflows.services import definition_resolve, task_start


class Command(BaseCommand):
    help = "Start a task of a workflow and print its id."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        """Let ``--version`` name the workflow version, not Django's version."""
        return super().create_parser(
            prog_name, subcommand, conflict_handler="resolve", **kwargs
        )

    def add_arguments(self, parser) -> None:
        parser.add_argument("namespace")
        parser.add_argument("name")
        parser.add_argument("--version", dest="workflow_version", default=None)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--context", help="The task context as a JSON object.")
        source.add_argument(
            "--example",
            action="store_true",
            help="Use the definition's example_context.",
        )
        parser.add_argument("--idempotency-key", default=None)
        parser.add_argument("--reason", default="")

    def handle(self, *args, **options) -> None:
        try:
            if options["example"]:
                definition = definition_resolve(
                    namespace=options["namespace"],
                    workflow=options["name"],
                    version=options["workflow_version"],
                )
                if definition.example_context is None:
                    raise CommandError(
                        f"workflow {definition} has no example_context; pass --context",
                        returncode=2,
                    )
                context = definition.example_context
            else:
                try:
                    context = json.loads(options["context"])
                except json.JSONDecodeError as exc:
                    raise CommandError(
                        f"--context is not valid JSON: {exc}", returncode=2
                    ) from exc
            task = task_start(
                namespace=options["namespace"],
                workflow=options["name"],
                version=options["workflow_version"],
                context=context,
                actor=Actor.system_actor("cli"),
                idempotency_key=options["idempotency_key"],
                reason=options["reason"],
                source_system="cli",
            )
        except TaskerError as exc:
            detail = "".join(
                f"\n  {path}: {'; '.join(msgs)}" for path, msgs in exc.fields.items()
            )
            raise CommandError(f"{exc.message}{detail}", returncode=2) from exc
        self.stdout.write(str(task.pk))
