"""``manage.py rotate_pii_keys``: re-wrap every data key under the first master key.

Exit 0 printing what was re-wrapped, what was already current and what is
left; exit 1 naming the data keys that no configured master key unwraps
(their ids, never key material); exit 2 for bad arguments. A message, never
a traceback. Safe to run twice at once and to interrupt: run again to resume.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.rotation import (
    DEFAULT_BATCH_SIZE,
    RotationReport,
    UnknownMasterKey,
    pii_keys_rotate,
)
from tasker_project.core.actors import Actor


def positive_int(text: str) -> int:
    """Parse a count of at least 1 (argparse reports the error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


class Command(BaseCommand):
    help = "Re-wrap the PII data keys under the first key of TASKER_PII_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Keys per transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--max-batches",
            type=positive_int,
            default=None,
            help="Stop after this many batches; run again to resume.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("batch_size", "max_batches"):
            value = options[name]
            if value is not None and (not isinstance(value, int) or value < 1):
                raise CommandError(
                    f"--{name.replace('_', '-')} must be at least 1", returncode=2
                )
        try:
            report = pii_keys_rotate(
                actor=Actor.system_actor("cli"),
                batch_size=options["batch_size"],
                max_batches=options["max_batches"],
                progress=self._progress,
            )
        except UnknownMasterKey as exc:
            self._summary(exc.report)
            raise CommandError(str(exc), returncode=1) from None
        self._summary(report)
        if report.left:
            self.stdout.write(f"{report.left} key(s) left: run again to continue")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"every data key is wrapped by master key {report.master_id}"
                )
            )

    def _progress(self, report: RotationReport) -> None:
        self.stdout.write(
            f"batch {report.batches}: {report.rewrapped} re-wrapped so far"
        )

    def _summary(self, report: RotationReport) -> None:
        origins = ", ".join(
            f"{count} from {master}"
            for master, count in sorted(report.from_masters.items())
        )
        self.stdout.write(
            f"re-wrapped {report.rewrapped}"
            + (f" ({origins})" if origins else "")
            + f", already current {report.already_current}, left {report.left}"
            + f", under master key {report.master_id}"
        )
