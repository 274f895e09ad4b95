"""``manage.py seed_demo [--force]``: demo teams, logins and simulated-system data."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from namespaces.models import Namespace

DEMO_PASSWORD = "tasker-demo"  # noqa: S105 - documented demo login, refused outside DEBUG
DEMO_NAMESPACES = {
    "payments": "Payments",
    "customer_success": "Customer Success",
    "ecommerce": "E-commerce",
    "data_pipeline": "Data Pipeline",
    "microservices": "Microservices",
}


class Command(BaseCommand):
    help = "Create demo teams, the demo superuser and the simulated systems' data."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off (creates logins with a known password).",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "refusing to create demo logins with DEBUG off; pass --force "
                "if this really is a demo machine",
                returncode=2,
            )
        with transaction.atomic():
            for slug, name in DEMO_NAMESPACES.items():
                Namespace.objects.get_or_create(slug=slug, defaults={"name": name})
            user_model = get_user_model()
            admin, created = user_model.objects.get_or_create(
                username="admin",
                defaults={"email": "admin@example.com", "is_staff": True},
            )
            if created:
                admin.is_superuser = True
                admin.set_password(DEMO_PASSWORD)
                admin.save()
            summary = self._seed_examples()
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for line in summary:
            self.stdout.write(f"  {line}")
        self.stdout.write("")
        self.stdout.write(self.style.WARNING("Demo logins (password: tasker-demo):"))
        self.stdout.write("  admin   superuser   http://127.0.0.1:8000/admin/")

    def _seed_examples(self) -> list[str]:
        from examples.seed import seed_examples

        return [f"{key}: {value}" for key, value in seed_examples().items()]
