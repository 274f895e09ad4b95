"""Failure injection: the task context plans a fault per step and attempt."""

from __future__ import annotations

import pytest

from examples.common import faults
from examples.common.faults import (
    FAULTS,
    inject_fault,
    inject_fault_after_commit,
    planned_fault,
)
from tests.examples.helpers import make_ctx
from workflows.handlers import PermanentError, RetryableError

WORKFLOW = "ecommerce.process_order"


def ctx_for(plan: list[str], attempt: int, step: str = "process_payment"):
    return make_ctx(WORKFLOW, step, {"simulate": {step: plan}}, attempt=attempt)


def test_the_plan_is_indexed_by_attempt() -> None:
    """Attempt n raises the n-th planned fault; attempts past the plan run clean."""
    plan = ["timeout", "rate_limit"]
    assert planned_fault(ctx_for(plan, 1)) == "timeout"
    assert planned_fault(ctx_for(plan, 2)) == "rate_limit"
    assert planned_fault(ctx_for(plan, 3)) is None


def test_a_plan_for_another_step_does_not_apply() -> None:
    """Only the step named in `simulate` fails."""
    ctx = make_ctx(WORKFLOW, "validate_cart", {"simulate": {"create_order": ["crash"]}})
    assert planned_fault(ctx) is None
    inject_fault(ctx, system="inventory")


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("timeout", RetryableError, "gateway_timeout"),
        ("rate_limit", RetryableError, "rate_limited"),
        ("unavailable", RetryableError, "service_unavailable"),
        ("permanent", PermanentError, "injected_permanent"),
    ],
)
def test_each_fault_raises_its_error(fault: str, error: type, code: str) -> None:
    """Each named fault raises the error class and code the engine acts on."""
    with pytest.raises(error) as raised:
        inject_fault(ctx_for([fault], 1), system="gateway")
    assert raised.value.code == code
    assert "process_payment" in raised.value.message


def test_rate_limit_asks_to_retry_after_one_second() -> None:
    """A rate limit carries retry_after, which overrides the backoff."""
    with pytest.raises(RetryableError) as raised:
        inject_fault(ctx_for(["rate_limit"], 1), system="gateway")
    assert raised.value.retry_after == 1


def test_crash_is_a_plain_exception() -> None:
    """A crash is not a StepError: the engine treats it as retryable."""
    with pytest.raises(RuntimeError):
        inject_fault(ctx_for(["crash"], 1), system="gateway")


def test_hang_blocks_for_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hang sleeps far beyond any step timeout (here the sleep is recorded)."""
    slept: list[float] = []
    monkeypatch.setattr(faults.time, "sleep", slept.append)
    with pytest.raises(RetryableError):
        inject_fault(ctx_for(["hang"], 1), system="gateway")
    assert slept == [3600]


def test_timeout_after_commit_raises_only_after_the_call() -> None:
    """Before the call nothing happens; after it, a gateway timeout."""
    ctx = ctx_for(["timeout_after_commit"], 1)
    inject_fault(ctx, system="gateway")
    with pytest.raises(RetryableError) as raised:
        inject_fault_after_commit(ctx, system="gateway")
    assert raised.value.code == "gateway_timeout"


def test_other_faults_do_not_raise_after_commit() -> None:
    """The after-commit hook ignores every fault but timeout_after_commit."""
    for fault in set(FAULTS) - {"timeout_after_commit"}:
        inject_fault_after_commit(ctx_for([fault], 1), system="gateway")


def test_an_unknown_fault_is_a_permanent_error_naming_it() -> None:
    """A typo in a plan fails the step permanently, naming the fault."""
    with pytest.raises(PermanentError) as raised:
        inject_fault(ctx_for(["timeuot"], 1), system="gateway")
    assert raised.value.code == "unknown_fault"
    assert "'timeuot'" in raised.value.message
