"""``manage.py sync_workflows [PATH ...]``: load YAML definitions into the database."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, DataError, IntegrityError

from tasker_project.core.actors import SYNC
from workflows.definitions.loader import (
    DefinitionError,
    WorkflowSpec,
    find_files,
    load_paths,
)
from workflows.definitions.sync import definitions_check, definitions_sync
from workflows.models import WorkflowDefinition


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
            "--check",
            action="store_true",
            help="Validate the files and compare them with the database; "
            "write nothing.",
        )

    def handle(self, *args, **options) -> None:
        paths: list[str] = options["paths"] or settings.TASKER["WORKFLOW_PATHS"]
        try:
            if not find_files(paths):
                message = "no workflow files (*.yaml, *.yml) under: " + ", ".join(
                    str(p) for p in paths
                )
                if options["paths"]:
                    raise DefinitionError([message])
                self.stderr.write(message)
                return
            specs = load_paths(paths)
            if options["check"]:
                self._check_against_database(specs)
                for spec in specs:
                    self.stdout.write(f"ok {spec.label} ({spec.source})")
                return
            before = _synced_keys(specs)
            report = definitions_sync(specs=specs, actor=SYNC)
        except DefinitionError as exc:
            raise CommandError(
                "workflow definitions refused, nothing synced:\n  "
                + "\n  ".join(exc.problems),
                returncode=2,
            ) from exc
        except IntegrityError as exc:
            # Only a version that exists now, though this sync meant to create
            # it, was written by another sync; any other refusal is the
            # database's verdict on these files and is reported as such.
            if _synced_keys(specs) - before:
                raise CommandError(
                    f"another sync changed the definitions concurrently ({exc}); "
                    "nothing synced, run sync_workflows again",
                    returncode=1,
                ) from exc
            raise CommandError(_refused(exc), returncode=2) from exc
        except DataError as exc:
            raise CommandError(_refused(exc), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(
                f"cannot sync: database error: {exc} (has `manage.py migrate` run?)",
                returncode=1,
            ) from exc
        for label in report.created:
            self.stdout.write(self.style.SUCCESS(f"created   {label}"))
        for label in report.flags_changed:
            self.stdout.write(self.style.WARNING(f"changed   {label}"))
        for label in report.unchanged:
            self.stdout.write(f"unchanged {label}")
        for workflow, version in sorted(report.defaults.items()):
            self.stdout.write(f"default   {workflow} = {version}")

    def _check_against_database(self, specs: list[WorkflowSpec]) -> None:
        """Refuse changed published versions; warn if there is no database.

        ``--check`` also runs in CI before any database exists: the files
        are then validated on their own.
        """
        try:
            definitions_check(specs=specs)
        except DatabaseError as exc:
            self.stderr.write(
                f"warning: not compared with the database ({exc}); "
                "files validated on their own"
            )


def _refused(exc: DatabaseError) -> str:
    """Say that the database refused the definitions, where, and its words."""
    where = "; ".join(getattr(exc, "__notes__", [])) or "while writing"
    detail = str(exc).strip() or type(exc).__name__
    return f"database refused the definitions {where}, nothing synced: {detail}"


def _synced_keys(specs: list) -> set[tuple[str, str, str]]:
    """Return which of ``specs``' versions the database holds now."""
    wanted = {spec.key for spec in specs}
    held = WorkflowDefinition.objects.filter(
        name__in={name for _, name, _ in wanted}
    ).values_list("namespace__slug", "name", "version")
    return {(ns, name, version) for ns, name, version in held} & wanted
