"""The simulated systems' admin: each team sees its own, PII only with pii_viewer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from examples.models import Customer, SentEmail
from namespaces.models import Namespace
from namespaces.services import membership_grant, team_roles_ensure
from tasker_project.core.actors import Actor
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system_actor("test")
NAME = "Grace Hopper"
EMAIL = "grace.hopper@example.org"


@pytest.fixture
def customer(synced) -> Customer:
    return Customer.objects.create(name=NAME, email=EMAIL, tier="premium")


def member(username: str, **roles: list[str]):
    """Return a staff user holding ``roles`` by namespace slug."""
    user = UserFactory(username=username, is_staff=True)
    for slug, names in roles.items():
        namespace = Namespace.objects.get(slug=slug)
        team_roles_ensure(namespace=namespace)
        for role in names:
            membership_grant(namespace=namespace, user=user, role=role, actor=SYSTEM)
    return user


def test_another_teams_staff_cannot_open_the_crm(client, customer):
    """An e-commerce operator sees the shop's systems, not customer success's CRM."""
    client.force_login(member("mel", ecommerce=["operator"]))
    assert client.get(reverse("admin:examples_customer_changelist")).status_code == 403
    change = reverse("admin:examples_customer_change", args=[customer.pk])
    assert client.get(change).status_code in (302, 403, 404)
    assert client.get(reverse("admin:examples_order_changelist")).status_code == 200


def test_a_team_viewer_sees_customers_masked_and_cannot_search_by_email(
    client, customer
):
    """Without pii_viewer the CRM shows ids and tiers; names and e-mails are masked."""
    client.force_login(member("vic", customer_success=["viewer"]))
    for url in (
        reverse("admin:examples_customer_changelist"),
        reverse("admin:examples_customer_change", args=[customer.pk]),
    ):
        page = client.get(url)
        assert page.status_code == 200
        body = page.content.decode()
        assert customer.customer_id in body
        assert NAME not in body
        assert EMAIL not in body
        assert "g***@example.org" in body
    found = client.get(reverse("admin:examples_customer_changelist"), {"q": EMAIL})
    assert customer.customer_id not in found.content.decode()


def test_a_pii_viewer_of_the_team_sees_customers_in_clear(client, customer):
    """pii_viewer in customer_success shows the CRM as stored, search included."""
    client.force_login(member("pia", customer_success=["viewer", "pii_viewer"]))
    found = client.get(reverse("admin:examples_customer_changelist"), {"q": EMAIL})
    body = found.content.decode()
    assert NAME in body
    assert EMAIL in body


def test_the_mailer_shows_each_team_its_own_messages(client, synced):
    """A payments viewer sees refund notices, masked, and no shop receipts."""
    refund = SentEmail.objects.create(
        idempotency_key="k1",
        to=EMAIL,
        subject=f"Hello {NAME}",
        body="...",
        template="refund_processed",
    )
    receipt = SentEmail.objects.create(
        idempotency_key="k2",
        to="shopper@example.org",
        subject="Your order",
        body="...",
        template="order_confirmation",
    )
    client.force_login(member("pat", payments=["viewer"]))
    body = client.get(reverse("admin:examples_sentemail_changelist")).content.decode()
    assert refund.message_id in body
    assert receipt.message_id not in body
    assert EMAIL not in body
    assert NAME not in body
    own = reverse("admin:examples_sentemail_change", args=[refund.pk])
    other = reverse("admin:examples_sentemail_change", args=[receipt.pk])
    assert client.get(own).status_code == 200
    assert client.get(other).status_code in (302, 403, 404)


def test_a_superuser_sees_every_system_in_clear(client, customer):
    """Superusers keep the whole view, and may still add records."""
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    body = client.get(reverse("admin:examples_customer_changelist")).content.decode()
    assert NAME in body
    assert EMAIL in body
    assert client.get(reverse("admin:examples_customer_add")).status_code == 200
