"""microservices.user_registration handlers against the simulated services."""

from __future__ import annotations

import copy

import pytest

from examples.models import BillingProfile, SentEmail, UserAccount, UserPreferences
from tests.examples.helpers import definition, run_step, run_workflow
from workflows.handlers import PermanentError, RetryableError

WORKFLOW = "microservices.user_registration"
pytestmark = pytest.mark.django_db


def example(**changes) -> dict:
    context = copy.deepcopy(definition(WORKFLOW)["example_context"])
    context.update(changes)
    return context


def test_the_example_registration_runs_end_to_end(seeded) -> None:
    """The example context creates one active, billed, configured account."""
    results = run_workflow(WORKFLOW, example(), task_id="t-reg")
    account = UserAccount.objects.get()
    assert account.email == "ada.lovelace@example.com"
    assert account.status == "active"
    assert account.activated_at is not None
    assert results["update_user_status"]["status"] == "active"
    assert account.billing_profile.monthly_price_cents == 2_900
    assert account.preferences.settings["theme"] == "dark"
    assert account.preferences.settings["language"] == "en"
    assert sorted(SentEmail.objects.values_list("template", flat=True)) == [
        "getting_started_tips",
        "pro_features_tips",
        "welcome",
    ]


def test_retrying_account_creation_returns_the_same_account(seeded) -> None:
    """The same registration (idempotency key) gets its account back."""
    context = example(simulate={"create_user_account": ["timeout_after_commit"]})
    with pytest.raises(RetryableError):
        run_step(WORKFLOW, "create_user_account", context, {}, attempt=1)
    retried = run_step(WORKFLOW, "create_user_account", context, {}, attempt=2)
    assert retried["created_now"] is False
    assert retried["user_id"] == UserAccount.objects.get().user_id


def test_another_registration_for_a_taken_email_fails_permanently(seeded) -> None:
    """A second task registering the same e-mail is refused, case-insensitively."""
    run_step(WORKFLOW, "create_user_account", example(), {}, task_id="t-1")
    again = example(email="Ada.Lovelace@Example.com")
    with pytest.raises(PermanentError) as raised:
        run_step(WORKFLOW, "create_user_account", again, {}, task_id="t-2")
    assert raised.value.code == "email_taken"
    assert UserAccount.objects.count() == 1


def test_billing_and_preferences_are_set_up_once(seeded) -> None:
    """Retried parallel steps return their first profile and preferences."""
    context = example(plan="free")
    results = {
        "create_user_account": run_step(WORKFLOW, "create_user_account", context, {})
    }
    for attempt in (1, 2):
        billing = run_step(
            WORKFLOW, "setup_billing_profile", context, results, attempt=attempt
        )
        prefs = run_step(
            WORKFLOW, "initialize_preferences", context, results, attempt=attempt
        )
    assert (billing["created_now"], prefs["created_now"]) == (False, False)
    assert billing["billing_required"] is False
    assert billing["monthly_price_cents"] == 0
    assert BillingProfile.objects.count() == 1
    assert UserPreferences.objects.count() == 1


def test_welcome_sequence_honours_product_tips_and_sends_once(seeded) -> None:
    """product_tips off leaves only the welcome; a retry sends nothing new."""
    context = example(plan="free", preferences={"product_tips": False})
    results: dict = {}
    for step in (
        "create_user_account",
        "setup_billing_profile",
        "initialize_preferences",
    ):
        results[step] = run_step(WORKFLOW, step, context, results)
    sent = run_step(WORKFLOW, "send_welcome_sequence", context, results, attempt=1)
    resent = run_step(WORKFLOW, "send_welcome_sequence", context, results, attempt=2)
    assert [m["template"] for m in sent["messages"]] == ["welcome"]
    assert resent["sent_now"] == 0
    assert SentEmail.objects.count() == 1


def test_activation_is_idempotent(seeded) -> None:
    """Activating an active account leaves it as it was."""
    results = run_workflow(WORKFLOW, example(), task_id="t-act")
    first_at = UserAccount.objects.get().activated_at
    again = run_step(
        WORKFLOW, "update_user_status", example(), results, attempt=2, task_id="t-act"
    )
    assert again["activated_now"] is False
    assert UserAccount.objects.get().activated_at == first_at


def test_an_injected_permanent_fault_creates_nothing(seeded) -> None:
    """A permanent fault before the call leaves the user service untouched."""
    context = example(simulate={"create_user_account": ["permanent"]})
    with pytest.raises(PermanentError) as raised:
        run_step(WORKFLOW, "create_user_account", context, {})
    assert raised.value.code == "injected_permanent"
    assert not UserAccount.objects.exists()
