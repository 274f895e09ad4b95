"""``manage.py seed_demo [--force]``: demo teams, logins and simulated-system data."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from examples.seed import seed_examples
from namespaces.models import Namespace
from namespaces.services import grant_create, membership_grant, team_roles_ensure
from tasker_project.core.actors import Actor

DEMO_PASSWORD = "tasker-demo"  # noqa: S105 - documented demo login, refused outside DEBUG
# username → [(namespace, role), …]; every demo user is staff so the admin opens.
DEMO_USERS: dict[str, list[tuple[str, str]]] = {
    "alice": [("customer_success", "operator")],
    "carol": [("customer_success", "operator"), ("customer_success", "approver")],
    "dave": [("customer_success", "approver")],
    "paul": [("payments", "operator")],
    "pam": [("payments", "approver"), ("payments", "maintainer")],
    "victor": [("payments", "viewer"), ("customer_success", "viewer")],
    "mallory": [("ecommerce", "operator")],
}
DEMO_GRANTS = [("customer_success", "payments", "process_refund")]
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
        system = Actor.system_actor("seed_demo")
        with transaction.atomic():
            namespaces = {}
            for slug, name in DEMO_NAMESPACES.items():
                namespace, _ = Namespace.objects.get_or_create(
                    slug=slug, defaults={"name": name}
                )
                team_roles_ensure(namespace=namespace)
                namespaces[slug] = namespace
            user_model = get_user_model()
            admin, created = user_model.objects.get_or_create(
                username="admin",
                defaults={"email": "admin@example.com", "is_staff": True},
            )
            if created:
                admin.is_superuser = True
                admin.set_password(DEMO_PASSWORD)
                admin.save()
            for username, roles in DEMO_USERS.items():
                user, created = user_model.objects.get_or_create(
                    username=username,
                    defaults={"email": f"{username}@example.com", "is_staff": True},
                )
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.save()
                for slug, role in roles:
                    membership_grant(
                        namespace=namespaces[slug], user=user, role=role, actor=system
                    )
            for source, target, workflow in DEMO_GRANTS:
                grant_create(
                    source=namespaces[source],
                    target=namespaces[target],
                    workflow=workflow,
                    actor=system,
                    reason="demo: support refunds run through payments",
                )
            summary = self._seed_examples()
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for line in summary:
            self.stdout.write(f"  {line}")
        self.stdout.write("")
        self.stdout.write(self.style.WARNING("Demo logins (password: tasker-demo):"))
        self.stdout.write("  admin    superuser")
        for username, roles in DEMO_USERS.items():
            described = ", ".join(f"{ns} {role}" for ns, role in roles)
            self.stdout.write(f"  {username:<8} {described}")
        self.stdout.write("Sign in at http://127.0.0.1:8000/admin/")

    def _seed_examples(self) -> list[str]:
        return [f"{key}: {value}" for key, value in seed_examples().items()]
