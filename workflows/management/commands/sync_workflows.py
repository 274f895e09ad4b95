"""``manage.py sync_workflows [PATH ...]``: load YAML definitions into the database."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from workflows.actors import Actor
from workflows.definitions.loader import DefinitionError, load_paths
from workflows.definitions.sync import definitions_sync


class Command(BaseCommand):
    help = (
        "Validate every workflow YAML file and sync new versions, deprecations "
        "and defaults. Idempotent; refuses everything if any file is invalid."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "paths",
            nargs="*",
            help="Files or directories (default: settings.TASKER['WORKFLOW_PATHS']).",
        )
        parser.add_argument(
            "--check", action="store_true", help="Validate only; write nothing."
        )

    def handle(self, *args, **options) -> None:
        paths = options["paths"] or settings.TASKER["WORKFLOW_PATHS"]
        try:
            specs = load_paths(paths)
            if options["check"]:
                for spec in specs:
                    self.stdout.write(f"ok {spec.label} ({spec.source})")
                return
            report = definitions_sync(specs=specs, actor=Actor.system_actor("cli"))
        except DefinitionError as exc:
            raise CommandError(
                "workflow definitions refused, nothing synced:\n  "
                + "\n  ".join(exc.problems),
                returncode=2,
            ) from exc
        for label in report.created:
            self.stdout.write(self.style.SUCCESS(f"created   {label}"))
        for label in report.flags_changed:
            self.stdout.write(self.style.WARNING(f"changed   {label}"))
        for label in report.unchanged:
            self.stdout.write(f"unchanged {label}")
        for workflow, version in sorted(report.defaults.items()):
            self.stdout.write(f"default   {workflow} = {version}")
