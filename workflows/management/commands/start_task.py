"""``manage.py start_task NAMESPACE NAME [--version V] (--context JSON|--example)``."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tasker_project.core.actors import Actor
from tasker_project.core.errors import TaskerError
from tasker_project.core.json_values import ensure_storable
from workflows.engine.start import definition_resolve
from workflows.services import task_start

# (argument, option key) of the text arguments, all stored or looked up.
TEXT_ARGS = (
    ("NAMESPACE", "namespace"),
    ("NAME", "name"),
    ("--version", "workflow_version"),
    ("--idempotency-key", "idempotency_key"),
    ("--reason", "reason"),
)


def parse_context(text: str) -> Any:
    """Return ``--context`` parsed; refuse what is not JSON or cannot be stored."""
    try:
        context = json.loads(text)
    except RecursionError as exc:
        raise CommandError(
            "--context is not valid JSON: nested too deeply", returncode=2
        ) from exc
    except ValueError as exc:  # JSONDecodeError, or an integer too long to read
        raise CommandError(f"--context is not valid JSON: {exc}", returncode=2) from exc
    ensure_storable({"context": context})
    return context


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
            # Arguments that are not valid UTF-8 arrive as lone surrogates.
            ensure_storable({name: options[key] for name, key in TEXT_ARGS})
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
                context = parse_context(options["context"])
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
