"""The admin shows every simulated system's rows, read-only where written."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from examples import models
from examples.seed import seed_examples
from tests.examples.helpers import run_workflow
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [getattr(models, name) for name in models.__all__])
def test_every_model_has_a_working_changelist(client, model) -> None:
    """Each model is registered and its list and detail pages render."""
    seed_examples()
    run_workflow("ecommerce.process_order", _order_context())
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    assert model in admin.site._registry
    opts = model._meta
    listing = client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    )
    assert listing.status_code == 200
    row = model.objects.first()
    if row is not None:
        detail = client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
        )
        assert detail.status_code == 200


def test_rows_written_by_a_system_cannot_be_added_or_edited(rf) -> None:
    """Charges are view-only; the catalogue stays editable for restocking."""
    request = rf.get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    charges = admin.site._registry[models.GatewayCharge]
    catalogue = admin.site._registry[models.InventoryItem]
    assert not charges.has_add_permission(request)
    assert not charges.has_change_permission(request)
    assert catalogue.has_change_permission(request)


def _order_context() -> dict:
    return {
        "customer_email": "admin.test@example.com",
        "cart_items": [{"sku": "WIDGET-001", "quantity": 1}],
        "payment_method": "card",
        "payment_token": "tok_visa",
    }
