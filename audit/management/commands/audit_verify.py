"""``manage.py audit_verify``: check the audit chains and the auditlog entries.

Exit 0 printing each chain's count and head hash; exit 1 naming the first bad
link (an edited, deleted or inserted row in either table); exit 2 for bad
arguments. A message, never a traceback.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.verify import BadLink, verify


class Command(BaseCommand):
    help = "Verify the tamper-evident audit trail; print each chain's head."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = verify()
        except BadLink as exc:
            raise CommandError(
                f"audit trail does not verify: {exc}", returncode=1
            ) from None
        for head in report.chains:
            self.stdout.write(
                f"chain {head.chain}: {head.count} events, head seq {head.seq} "
                f"hash {head.hash}"
            )
        self.stdout.write(
            f"log entries: {report.log_entries}, each covered by a chained event"
        )
        self.stdout.write(self.style.SUCCESS("audit trail verifies"))
