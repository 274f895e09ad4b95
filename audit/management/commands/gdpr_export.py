"""``manage.py gdpr_export --subject EMAIL --actor USERNAME [--output FILE]``.

Print (or write to ``--output``) every record of the subject as JSON,
decrypted; audited as ``gdpr.exported``. An unknown subject gets a document
with no records. Exit 2, with a message, for a bad e-mail, an actor who is
not an active superuser or an unwritable file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from audit.gdpr import subject_export, superuser_actor
from tasker_project.core.errors import TaskerError


def fail(exc: TaskerError) -> CommandError:
    """Return the exit-2 error of a refused GDPR operation, naming the option."""
    names = {"subject": "--subject", "actor": "--actor", "reason": "--reason"}
    option = next((names[f] for f in exc.fields if f in names), "")
    message = (
        exc.message
        if exc.message.startswith("--") or not option
        else (f"{option}: {exc.message}")
    )
    return CommandError(message, returncode=2)


class Command(BaseCommand):
    help = "Export a data subject's personal data as JSON (superusers only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subject", required=True, help="The subject's e-mail.")
        parser.add_argument(
            "--actor", required=True, help="The acting superuser's username."
        )
        parser.add_argument("--output", default=None, help="Write to this file.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            actor = superuser_actor(options["actor"], operation="export")
            document = subject_export(email=options["subject"], actor=actor)
        except TaskerError as exc:
            raise fail(exc) from None
        text = json.dumps(document, indent=2, cls=DjangoJSONEncoder, ensure_ascii=False)
        if options["output"] is None:
            self.stdout.write(text)
            return
        try:
            Path(options["output"]).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                f"--output: cannot write {options['output']!r}: {exc.strerror}",
                returncode=2,
            ) from None
        records = sum(len(rows) for rows in document["records"].values())
        self.stdout.write(f"wrote {records} record(s) to {options['output']}")
