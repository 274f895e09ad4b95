"""``manage.py gdpr_erase --subject EMAIL --reason TEXT --actor USERNAME [--cancel]``.

Shred the subject's data keys and clear their blind indexes; audited as
``gdpr.erased`` (counts and owner ids, never the e-mail). Refused (exit 2,
naming the tasks) while the subject has unfinished tasks, unless
``--cancel`` cancels them first. An unknown subject erases nothing (exit 0).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.gdpr import subject_erase, superuser_actor
from audit.management.commands.gdpr_export import fail
from tasker_project.core.errors import TaskerError


class Command(BaseCommand):
    help = "Erase a data subject's personal data (superusers only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subject", required=True, help="The subject's e-mail.")
        parser.add_argument("--reason", required=True, help="Why (audited).")
        parser.add_argument(
            "--actor", required=True, help="The acting superuser's username."
        )
        parser.add_argument(
            "--cancel",
            action="store_true",
            help="Cancel the subject's unfinished tasks first.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            actor = superuser_actor(options["actor"], operation="erase")
            counts = subject_erase(
                email=options["subject"],
                actor=actor,
                reason=options["reason"],
                cancel=options["cancel"],
            )
        except TaskerError as exc:
            raise fail(exc) from None
        if not counts["data_keys"]:
            self.stdout.write("no personal data found for this subject: nothing erased")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"erased {counts['data_keys']} data key(s), cancelled "
                f"{counts['cancelled']} task(s), cleared "
                f"{counts['blind_indexes_cleared']} index(es) "
                f"(erasure {counts['erasure_id']})"
            )
        )
