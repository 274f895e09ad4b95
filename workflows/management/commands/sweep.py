"""``manage.py sweep``: run the recovery sweeper once."""

import json

from django.core.management.base import BaseCommand

from workflows.engine.sweeper import sweep


class Command(BaseCommand):
    help = "Re-enqueue due retries, republish lost messages, expire dead leases."

    def handle(self, *args, **options) -> None:
        self.stdout.write(json.dumps(sweep().as_dict()))
