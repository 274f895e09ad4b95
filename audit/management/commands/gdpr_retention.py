"""``manage.py gdpr_retention [--days N] [--dry-run] [--actor USERNAME]``.

Erase every subject whose newest record is older than ``--days`` (default
``TASKER_PII_RETENTION_DAYS``) and who has no unfinished task, one audited
``gdpr.erased`` event each. Runs as ``system:retention`` (a scheduled job)
unless ``--actor`` names an active superuser. Exit 2 for bad arguments.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.gdpr import RETENTION, retention_erase, superuser_actor
from audit.management.commands.gdpr_export import fail
from tasker_project.core.errors import TaskerError


class Command(BaseCommand):
    help = "Erase the personal data of subjects inactive past the retention period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None)
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--actor", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] is not None and options["days"] < 1:
            raise CommandError("--days must be at least 1", returncode=2)
        try:
            actor = (
                superuser_actor(options["actor"], operation="retention")
                if options["actor"]
                else RETENTION
            )
            counts = retention_erase(
                actor=actor, days=options["days"], dry_run=options["dry_run"]
            )
        except TaskerError as exc:
            raise fail(exc) from None
        verb = "would erase" if options["dry_run"] else "erased"
        self.stdout.write(
            f"{verb} {counts['subjects']} subject(s), {counts['data_keys']} data "
            f"key(s); kept {counts['kept']} with unfinished tasks"
        )
