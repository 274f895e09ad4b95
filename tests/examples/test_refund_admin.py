"""Admin of the refund systems: records can be added, refunds only viewed."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from examples import models
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return UserFactory(is_staff=True, is_superuser=True)


def test_refunds_are_view_only_records_are_addable(rf, superuser) -> None:
    """Gateway refunds and record entries are view-only; the rest is addable."""
    request = rf.get("/")
    request.user = superuser
    for model in (models.GatewayRefund, models.PaymentRefund):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
    for model in (models.Customer, models.SupportTicket, models.Payment):
        assert admin.site._registry[model].has_add_permission(request)


def test_a_payments_amounts_are_fixed_once_created(rf, superuser, seeded) -> None:
    """Refunded cents are never typed in; the captured amount not after creation."""
    request = rf.get("/")
    request.user = superuser
    payment_admin = admin.site._registry[models.Payment]
    assert "refunded_cents" in payment_admin.get_readonly_fields(request)
    payment = models.Payment.objects.get(payment_id="pay_1001")
    fixed = payment_admin.get_readonly_fields(request, payment)
    assert {"amount_cents", "refunded_cents", "status"} <= set(fixed)


def test_an_operator_adds_a_captured_payment_in_the_admin(
    client, superuser, seeded
) -> None:
    """The add form creates a payment a refund demo can use."""
    client.force_login(superuser)
    customer = models.Customer.objects.get(customer_id="cus_1001")
    response = client.post(
        reverse("admin:examples_payment_add"),
        {
            "payment_id": "pay_2001",
            "customer": customer.pk,
            "amount_cents": 9_900,
            "currency": "USD",
            "status": "captured",
            "settling_checks_remaining": 0,
            "description": "",
        },
    )
    assert response.status_code == 302, response.content
    assert models.Payment.objects.get(payment_id="pay_2001").amount_cents == 9_900


def test_a_refunded_payment_cannot_be_added_by_hand(client, superuser, seeded) -> None:
    """The status constraint shows as a form error; nothing is created."""
    client.force_login(superuser)
    customer = models.Customer.objects.get(customer_id="cus_1001")
    response = client.post(
        reverse("admin:examples_payment_add"),
        {
            "payment_id": "pay_2002",
            "customer": customer.pk,
            "amount_cents": 9_900,
            "currency": "USD",
            "status": "refunded",
            "settling_checks_remaining": 0,
        },
    )
    assert response.status_code == 200
    assert not models.Payment.objects.filter(payment_id="pay_2002").exists()
