"""``manage.py create_demo_records [--customers N] [--tier T] [--amount C] …``."""

import json

from django.core.management.base import BaseCommand, CommandError

from examples.models import Customer
from examples.refund_records import demo_records_create

MAX_CUSTOMERS = 10_000
MAX_AMOUNT_CENTS = 100_000_000


class Command(BaseCommand):
    help = (
        "Create fresh customers, each with an open support ticket about one "
        "captured (or settling) payment, for refund demos, load and fault tests."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--customers", type=int, default=1, help="How many customers (1)."
        )
        parser.add_argument(
            "--tier",
            default=Customer.Tier.STANDARD,
            help=f"Customer tier: {', '.join(Customer.Tier.values)} (standard).",
        )
        parser.add_argument(
            "--amount",
            type=int,
            default=25_000,
            help="Captured amount of each payment, in cents (25000).",
        )
        parser.add_argument(
            "--settling-checks",
            type=int,
            default=0,
            help="Eligibility checks each payment stays settling for (0: captured).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the records as JSON."
        )

    def handle(self, *args, **options) -> None:
        count, tier = options["customers"], options["tier"]
        amount, checks = options["amount"], options["settling_checks"]
        if not 1 <= count <= MAX_CUSTOMERS:
            raise CommandError(
                f"--customers must be between 1 and {MAX_CUSTOMERS}, not {count}",
                returncode=2,
            )
        if tier not in Customer.Tier.values:
            raise CommandError(
                f"--tier must be one of {', '.join(Customer.Tier.values)}, "
                f"not {tier!r}",
                returncode=2,
            )
        if not 1 <= amount <= MAX_AMOUNT_CENTS:
            raise CommandError(
                f"--amount must be between 1 and {MAX_AMOUNT_CENTS} cents, "
                f"not {amount}",
                returncode=2,
            )
        if checks < 0:
            raise CommandError(
                f"--settling-checks must be 0 or more, not {checks}", returncode=2
            )
        records = [
            record.as_dict()
            for record in demo_records_create(
                count=count, tier=tier, amount_cents=amount, settling_checks=checks
            )
        ]
        if options["json"]:
            self.stdout.write(json.dumps(records, indent=2))
            return
        for record in records:
            self.stdout.write(
                f"{record['customer_id']} ({record['tier']})  "
                f"{record['ticket_id']}  {record['payment_id']} "
                f"{record['amount_cents']} cents {record['payment_status']}"
            )
