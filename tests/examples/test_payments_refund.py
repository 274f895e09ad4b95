"""payments.process_refund handlers against the simulated payment systems."""

from __future__ import annotations

import pytest

from examples.models import GatewayRefund, Payment, PaymentRefund, SentEmail
from examples.payments.gateway import refund_create
from tests.examples.helpers import (
    PAYMENTS,
    PAYMENTS_V2_0,
    example,
    run_payments,
    run_step,
    run_steps,
)
from workflows.handlers import PermanentError, RetryableError

pytestmark = pytest.mark.django_db

ELIGIBILITY = "validate_payment_eligibility"
GATEWAY = "process_gateway_refund"
RECORDS = "update_payment_records"


def payment(payment_id: str) -> Payment:
    return Payment.objects.get(payment_id=payment_id)


def eligible(context: dict) -> dict:
    return {ELIGIBILITY: run_step(PAYMENTS, ELIGIBILITY, context)}


def test_the_example_refund_runs_end_to_end(seeded) -> None:
    """pay_1002 is refunded 2,500 cents once, recorded and the customer told."""
    results = run_payments(example(PAYMENTS), task_id="t-example")
    refund = GatewayRefund.objects.get(payment__payment_id="pay_1002")
    assert results[GATEWAY]["refund_id"] == refund.refund_id
    assert results[GATEWAY]["refunded_now"] is True
    assert refund.amount_cents == 2_500
    assert refund.reason == "customer_request"
    record = PaymentRefund.objects.get(refund_id=refund.refund_id)
    assert record.amount_cents == 2_500
    pay = payment("pay_1002")
    assert (pay.refunded_cents, pay.status) == (2_500, "partially_refunded")
    assert results[RECORDS]["refundable_cents"] == 77_500
    email = SentEmail.objects.get()
    assert email.to == "cus_1002@example.com"
    assert email.template == "refund_processed"
    assert results["notify_customer"]["refund_id"] == refund.refund_id
    assert refund.refund_id in email.body


def test_refunding_the_whole_remainder_marks_the_payment_refunded(seeded) -> None:
    """The last cents refunded move the payment to refunded."""
    run_payments(example(PAYMENTS, refund_amount=80_000, partial_refund=False))
    pay = payment("pay_1002")
    assert (pay.refunded_cents, pay.status) == (80_000, "refunded")


def test_an_unknown_payment_fails_permanently(seeded) -> None:
    """Eligibility names the payment that does not exist."""
    with pytest.raises(PermanentError) as raised:
        run_step(PAYMENTS, ELIGIBILITY, example(PAYMENTS, payment_id="pay_9999"))
    assert raised.value.code == "payment_not_found"
    assert "pay_9999" in raised.value.message


def test_a_refunded_payment_is_not_refundable(seeded) -> None:
    """pay_1003 was refunded in full: eligibility refuses it permanently."""
    context = example(PAYMENTS, payment_id="pay_1003", refund_amount=100)
    with pytest.raises(PermanentError) as raised:
        run_step(PAYMENTS, ELIGIBILITY, context)
    assert raised.value.code == "payment_not_refundable"
    assert "pay_1003 is refunded" in raised.value.message


def test_a_failed_payment_is_not_refundable(seeded) -> None:
    """A payment that never captured money cannot be refunded."""
    Payment.objects.filter(payment_id="pay_1005").update(status="failed")
    context = example(PAYMENTS, payment_id="pay_1005", refund_amount=100)
    with pytest.raises(PermanentError) as raised:
        run_step(PAYMENTS, ELIGIBILITY, context)
    assert raised.value.code == "payment_not_refundable"


def test_an_amount_above_the_remainder_fails_permanently(seeded) -> None:
    """Refunding more than is left names both amounts and the payment."""
    context = example(PAYMENTS, refund_amount=80_001, partial_refund=False)
    with pytest.raises(PermanentError) as raised:
        run_step(PAYMENTS, ELIGIBILITY, context)
    assert raised.value.code == "refund_exceeds_refundable"
    assert "80001" in raised.value.message
    assert "80000" in raised.value.message


def test_the_remainder_shrinks_with_each_recorded_refund(seeded) -> None:
    """After 78,000 of 80,000 cents, a 5,000-cent refund is refused."""
    run_payments(example(PAYMENTS, refund_amount=78_000))
    with pytest.raises(PermanentError) as raised:
        run_step(PAYMENTS, ELIGIBILITY, example(PAYMENTS, refund_amount=5_000))
    assert raised.value.code == "refund_exceeds_refundable"


def test_a_wrong_partial_refund_flag_fails_permanently(seeded) -> None:
    """partial_refund false for less than the remainder is refused, not guessed."""
    context = example(PAYMENTS, refund_amount=100, partial_refund=False)
    with pytest.raises(PermanentError) as raised:
        run_step(PAYMENTS, ELIGIBILITY, context)
    assert raised.value.code == "partial_refund_mismatch"


def test_a_settling_payment_is_retried_until_it_settles(seeded) -> None:
    """pay_1004 is still settling on checks 1 and 2 (retry after 1s), captured on 3."""
    context = example(PAYMENTS, payment_id="pay_1004", refund_amount=1_000)
    for attempt in (1, 2):
        with pytest.raises(RetryableError) as raised:
            run_step(PAYMENTS, ELIGIBILITY, context, attempt=attempt)
        assert raised.value.code == "payment_settling"
        assert raised.value.retry_after == 1
        assert payment("pay_1004").settling_checks_remaining == 2 - attempt
    result = run_step(PAYMENTS, ELIGIBILITY, context, attempt=3)
    assert result["payment_status"] == "captured"
    assert result["refundable_cents"] == 40_000
    assert result["partial_refund"] is True
    assert payment("pay_1004").status == "captured"


def test_settling_checks_are_counted_across_tasks(seeded) -> None:
    """The counter belongs to the payment: two tasks' checks spend it together."""
    context = example(PAYMENTS, payment_id="pay_1004", refund_amount=1_000)
    for task_id in ("t-a", "t-b"):
        with pytest.raises(RetryableError):
            run_step(PAYMENTS, ELIGIBILITY, context, task_id=task_id)
    assert run_step(PAYMENTS, ELIGIBILITY, context, task_id="t-c")["payment_id"]


def test_version_2_0_refunds_the_whole_remainder_only(seeded) -> None:
    """2.0.0 refuses a partial refund and has no notify step; 2.1.0 allows it."""
    partial = example(PAYMENTS_V2_0, payment_id="pay_1002", refund_amount=2_500)
    with pytest.raises(PermanentError) as raised:
        run_step(PAYMENTS_V2_0, ELIGIBILITY, partial)
    assert raised.value.code == "full_refund_required"
    assert "2.0.0" in raised.value.message
    results = run_payments(example(PAYMENTS_V2_0), workflow=PAYMENTS_V2_0)
    assert set(results) == {ELIGIBILITY, GATEWAY, RECORDS}
    assert payment("pay_1006").status == "refunded"
    assert not SentEmail.objects.exists()


def test_a_retried_gateway_step_refunds_once(seeded) -> None:
    """The same idempotency key twice: one refund row, the remainder cut once."""
    context = example(PAYMENTS)
    results = eligible(context)
    first = run_step(PAYMENTS, GATEWAY, context, results, attempt=1)
    second = run_step(PAYMENTS, GATEWAY, context, results, attempt=2)
    assert first["refund_id"] == second["refund_id"]
    assert (first["refunded_now"], second["refunded_now"]) == (True, False)
    assert GatewayRefund.objects.filter(payment__payment_id="pay_1002").count() == 1
    results[GATEWAY] = first
    run_step(PAYMENTS, RECORDS, context, results, attempt=1)
    again = run_step(PAYMENTS, RECORDS, context, results, attempt=2)
    assert again["recorded_now"] is False
    assert PaymentRefund.objects.filter(refund_id=first["refund_id"]).count() == 1
    assert payment("pay_1002").refunded_cents == 2_500


def test_a_lost_gateway_reply_is_found_by_its_key(seeded) -> None:
    """timeout_after_commit: the gateway refunded; the retry gets that refund."""
    context = example(PAYMENTS, simulate={GATEWAY: ["timeout_after_commit"]})
    results = eligible(context)
    with pytest.raises(RetryableError) as raised:
        run_step(PAYMENTS, GATEWAY, context, results, attempt=1)
    assert raised.value.code == "gateway_timeout"
    assert GatewayRefund.objects.count() == 2  # pay_1003's seeded refund + this one
    retried = run_step(PAYMENTS, GATEWAY, context, results, attempt=2)
    assert retried["refunded_now"] is False


def test_a_full_refund_replayed_is_not_already_refunded(seeded) -> None:
    """A retry of the refund that emptied the payment returns it, no refusal."""
    context = example(PAYMENTS, refund_amount=80_000, partial_refund=False)
    results = eligible(context)
    first = run_step(PAYMENTS, GATEWAY, context, results, attempt=1)
    assert run_step(PAYMENTS, GATEWAY, context, results, attempt=2) == {
        **first,
        "refunded_now": False,
    }


@pytest.mark.parametrize(
    ("fault", "code", "retry_after"),
    [
        ("timeout", "gateway_timeout", None),
        ("rate_limit", "rate_limited", 1),
        ("unavailable", "service_unavailable", None),
    ],
)
def test_gateway_faults_are_retryable_and_refund_nothing(
    seeded, fault: str, code: str, retry_after: float | None
) -> None:
    """Timeout, rate limit (with retry_after) and outage: retry, nothing refunded."""
    context = example(PAYMENTS, simulate={GATEWAY: [fault]})
    results = eligible(context)
    with pytest.raises(RetryableError) as raised:
        run_step(PAYMENTS, GATEWAY, context, results, attempt=1)
    assert (raised.value.code, raised.value.retry_after) == (code, retry_after)
    assert not GatewayRefund.objects.filter(payment__payment_id="pay_1002").exists()
    refund = run_step(PAYMENTS, GATEWAY, context, results, attempt=2)
    assert refund["refunded_now"] is True


def test_the_gateway_refuses_an_already_refunded_payment(seeded) -> None:
    """Even when the records lag, the gateway knows pay_1003 is refunded."""
    Payment.objects.filter(payment_id="pay_1003").update(
        status="captured", refunded_cents=0
    )
    with pytest.raises(PermanentError) as raised:
        refund_create(
            idempotency_key="k-1003",
            payment_id="pay_1003",
            amount_cents=100,
            reason="customer_request",
        )
    assert raised.value.code == "already_refunded"
    assert "pay_1003" in raised.value.message


@pytest.mark.parametrize("payment_id", ["pay_9999", "pay_1004"])
def test_the_gateway_refuses_an_invalid_payment(seeded, payment_id: str) -> None:
    """Unknown and not yet captured payments are invalid at the gateway."""
    with pytest.raises(PermanentError) as raised:
        refund_create(
            idempotency_key=f"k-{payment_id}",
            payment_id=payment_id,
            amount_cents=100,
            reason="fraud",
        )
    assert raised.value.code == "invalid_payment"
    assert payment_id in raised.value.message


def test_the_gateway_never_refunds_past_the_captured_amount(seeded) -> None:
    """Two tasks refunding 20,000 of pay_1001's 30,000: the second is refused."""
    kwargs = {"payment_id": "pay_1001", "amount_cents": 20_000, "reason": "fraud"}
    refund_create(idempotency_key="k-a", **kwargs)
    with pytest.raises(PermanentError) as raised:
        refund_create(idempotency_key="k-b", **kwargs)
    assert raised.value.code == "refund_exceeds_refundable"


def test_a_refund_key_reused_for_another_amount_is_a_conflict(seeded) -> None:
    """One key, two different refunds: a caller bug, refused permanently."""
    refund_create(
        idempotency_key="k-1", payment_id="pay_1001", amount_cents=100, reason="fraud"
    )
    with pytest.raises(PermanentError) as raised:
        refund_create(
            idempotency_key="k-1",
            payment_id="pay_1001",
            amount_cents=200,
            reason="fraud",
        )
    assert raised.value.code == "idempotency_conflict"


def test_the_customer_is_notified_once(seeded) -> None:
    """A retried notify_customer returns the message it already sent."""
    context = example(PAYMENTS)
    results = run_steps(PAYMENTS, context, [ELIGIBILITY, GATEWAY, RECORDS])
    sent = run_step(PAYMENTS, "notify_customer", context, results, attempt=1)
    resent = run_step(PAYMENTS, "notify_customer", context, results, attempt=2)
    assert sent["message_id"] == resent["message_id"]
    assert SentEmail.objects.count() == 1


def test_without_an_email_the_payments_customer_is_notified(seeded) -> None:
    """customer_email is optional: the notice goes to the payment's customer."""
    context = example(PAYMENTS)
    del context["customer_email"]
    run_payments(context)
    assert SentEmail.objects.get().to == "cus_1002@example.com"
