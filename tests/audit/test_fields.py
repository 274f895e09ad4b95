"""Encrypted model fields: tokens at rest, plaintext in Python, blind look-ups."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import crypto
from audit.fields import PlaintextRefused, blind_lookup, seal_for
from audit.models import DataKey
from examples.models import Customer, Payment, SentEmail, SupportTicket, UserAccount

pytestmark = pytest.mark.django_db

NAME = "Ada Lovelace"
EMAIL = "ada.lovelace@example.org"


def raw(model, column: str, pk: int) -> str:
    """Return the stored column as the database holds it."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s",  # noqa: S608 (names from the model's meta)
            [pk],
        )
        return cursor.fetchone()[0]


def erase(key_id) -> None:
    """Crypto-shred a key as erasure does: no material, no subject, not cached."""
    DataKey.objects.filter(pk=key_id).update(wrapped=None, subject_index="")
    crypto.forget([key_id])


@pytest.fixture
def customer() -> Customer:
    return Customer.objects.create(name=NAME, email=EMAIL, tier="premium")


def test_a_value_round_trips_and_the_attribute_keeps_its_plaintext(customer):
    """A saved record reads back its values; saving never swaps in the token."""
    assert (customer.name, customer.email) == (NAME, EMAIL)
    again = Customer.objects.get(pk=customer.pk)
    assert (again.name, again.email) == (NAME, EMAIL)
    assert list(Customer.objects.values_list("email", flat=True)) == [EMAIL]


def test_the_column_holds_a_token_under_the_records_own_key(customer):
    """No plaintext in the table: each column is a token naming the record's key."""
    for column, plain in (("name", NAME), ("email", EMAIL)):
        stored = raw(Customer, column, customer.pk)
        assert crypto.is_token(stored)
        assert plain not in stored
        assert customer.data_key_id.hex in stored


def test_the_first_save_creates_a_key_naming_its_owner_and_subject(customer):
    """The key says whose it is (owner type and pk) and whom it is about."""
    key = DataKey.objects.get(pk=customer.data_key_id)
    assert key.owner_type == "examples.customer"
    assert key.owner_id == str(customer.pk)
    assert key.subject_index == crypto.blind_index(EMAIL)
    assert customer.email_index == crypto.blind_index(EMAIL)


def test_a_ticket_and_a_payment_are_keyed_to_their_customers_email(customer):
    """A record about a customer carries the customer's e-mail as its subject."""
    payment = Payment.objects.create(
        customer=customer, amount_cents=1000, description="gift for Ada"
    )
    ticket = SupportTicket.objects.create(
        customer=customer, payment=payment, subject="Ada wants a refund"
    )
    for record in (payment, ticket):
        key = DataKey.objects.get(pk=record.data_key_id)
        assert key.subject_index == crypto.blind_index(EMAIL)
        assert key.owner_id == str(record.pk)
    assert crypto.is_token(raw(Payment, "description", payment.pk))
    assert crypto.is_token(raw(SupportTicket, "subject", ticket.pk))
    assert raw(SupportTicket, "resolution_note", ticket.pk) == ""


def test_changing_the_subject_moves_the_keys_subject_index(customer):
    """A new e-mail re-tags the key, so export and erasure find the record by it."""
    customer.email = "countess@example.org"
    customer.save()
    key = DataKey.objects.get(pk=customer.data_key_id)
    assert key.subject_index == crypto.blind_index("countess@example.org")
    assert Customer.objects.get(pk=customer.pk).email == "countess@example.org"


def test_records_are_found_by_blind_index_in_any_case(customer):
    """A look-up compares normalised e-mails; the column itself refuses one."""
    found = Customer.objects.filter(
        blind_lookup(Customer, "email", " ADA.Lovelace@Example.org ")
    )
    assert list(found) == [customer]
    payment = Payment.objects.create(customer=customer, amount_cents=500)
    assert list(
        Payment.objects.filter(blind_lookup(Payment, "customer__email", EMAIL))
    ) == [payment]
    assert not Customer.objects.filter(blind_lookup(Customer, "email", ""))
    with pytest.raises(PlaintextRefused):
        list(Customer.objects.filter(email=EMAIL))


def test_an_email_is_unique_by_its_blind_index(customer):
    """A second customer with the same address, in another case, is refused."""
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(name="Other", email=EMAIL.upper(), tier="basic")


def test_erased_records_do_not_collide_on_the_blind_index(customer):
    """Erasure clears the index: two erased accounts keep the unique constraint."""
    first = UserAccount.objects.create(
        idempotency_key="a", email="one@example.org", name="One", plan="free"
    )
    second = UserAccount.objects.create(
        idempotency_key="b", email="two@example.org", name="Two", plan="free"
    )
    UserAccount.objects.filter(pk__in=[first.pk, second.pk]).update(email_index="")
    assert UserAccount.objects.filter(email_index="").count() == 2


def test_an_erased_key_reads_erased(customer):
    """Once the key is shredded every personal value reads "[erased]"."""
    erase(customer.data_key_id)
    again = Customer.objects.get(pk=customer.pk)
    assert (again.name, again.email) == (crypto.ERASED, crypto.ERASED)
    assert again.tier == "premium"
    again.tier = "basic"
    again.save()
    assert Customer.objects.get(pk=customer.pk).email == crypto.ERASED
    assert Customer.objects.get(pk=customer.pk).email_index == ""


def test_a_tampered_token_raises_pii_unreadable(customer):
    """A token that does not decrypt is an error, never missing data."""
    token = raw(Customer, "email", customer.pk)
    body = token[-8:]
    flipped = token[:-8] + ("A" if body[0] != "A" else "B") + body[1:]
    Customer.objects.filter(pk=customer.pk).update(email=flipped)
    with pytest.raises(crypto.PIIUnreadable):
        Customer.objects.get(pk=customer.pk)


def test_a_token_moved_under_another_key_does_not_open(customer):
    """The key id is authenticated: a token pasted onto another record fails."""
    other = Customer.objects.create(name="Other", email="o@example.org", tier="basic")
    token = raw(Customer, "email", other.pk)
    moved = token.replace(other.data_key_id.hex, customer.data_key_id.hex)
    Customer.objects.filter(pk=customer.pk).update(email=moved)
    with pytest.raises(crypto.PIIUnreadable):
        Customer.objects.get(pk=customer.pk)


def test_a_plaintext_update_is_refused_and_seal_for_makes_one_safe(customer):
    """queryset.update() skips pre_save: plaintext is refused, a sealed value goes."""
    with pytest.raises(PlaintextRefused), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(name="Clear Text")
    Customer.objects.filter(pk=customer.pk).update(name=seal_for(customer, "Ada L."))
    assert Customer.objects.get(pk=customer.pk).name == "Ada L."


def test_reading_costs_no_query_for_a_cached_key(customer):
    """A read of a record whose key is cached is one statement."""
    with CaptureQueriesContext(connection) as queries:
        Customer.objects.get(pk=customer.pk)
    assert len(queries) == 1
    crypto.forget([customer.data_key_id])
    with CaptureQueriesContext(connection) as queries:
        Customer.objects.get(pk=customer.pk)
    assert len(queries) == 2


def test_empty_values_stay_empty(customer):
    """An empty free-text field is stored empty, not as a token of ""."""
    email = SentEmail.objects.create(
        idempotency_key="k", to=EMAIL, subject="Hi", body="", template="t"
    )
    assert raw(SentEmail, "body", email.pk) == ""
    assert SentEmail.objects.get(pk=email.pk).body == ""
    assert list(SentEmail.objects.filter(blind_lookup(SentEmail, "to", EMAIL))) == [
        email
    ]


def test_a_list_with_keys_reads_its_pages_keys_in_one_query(customer):
    """A page of N records costs two statements however many keys are cold."""
    payments = [
        Payment.objects.create(
            customer=Customer.objects.create(
                name=f"C{n}", email=f"c{n}@example.org", tier="basic"
            ),
            amount_cents=100,
            description=f"order {n}",
        )
        for n in range(5)
    ]
    crypto.forget(p.data_key_id for p in payments)
    crypto.forget(p.customer.data_key_id for p in payments)
    page = Payment.objects.select_related("customer").with_keys("customer")
    with CaptureQueriesContext(connection) as queries:
        seen = {(p.description, p.customer.email) for p in page.order_by("pk")[:5]}
    assert len(queries) == 2
    assert seen == {(f"order {n}", f"c{n}@example.org") for n in range(5)}
