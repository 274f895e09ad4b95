"""The PII redactor: which keys and which text it masks, and for whom."""

from __future__ import annotations

import uuid

from audit.pii import (
    MASK,
    Redactor,
    context_redactor,
    definition_pii_keys,
    task_redactor,
)
from namespaces.models import Namespace
from workflows.models import Step, Task, WorkflowDefinition

SCHEMA = {
    "type": "object",
    "properties": {
        "ticket": {"type": "string", "x-pii": True},
        "household": {
            "type": "array",
            "items": {"properties": {"spouse": {"type": "string", "x-pii": True}}},
        },
    },
}


def a_task(**context: object) -> Task:
    """Return an unsaved task of a definition whose schema marks two x-pii keys."""
    namespace = Namespace(pk=1, slug="testing")
    definition = WorkflowDefinition(
        pk=1, namespace=namespace, name="t", version="1.0.0", context_schema=SCHEMA
    )
    return Task(
        id=uuid.uuid4(), namespace=namespace, definition=definition, context=context
    )


def test_x_pii_keys_of_the_schema_are_masked_in_step_results_and_requests():
    """A key the context schema marks x-pii is masked in results and requests too."""
    task = a_task(ticket="T-1")
    step = Step(
        results={"ticket": "T-1", "nested": [{"spouse": "Grace"}], "count": 2},
        approval_request={"reason": "why", "details": {"ticket": "T-1"}},
    )
    redactor = task_redactor(task, reveal=False, steps=[step])
    assert redactor.data(step.results) == {
        "ticket": MASK,
        "nested": [{"spouse": MASK}],
        "count": 2,
    }
    assert redactor.data(step.approval_request)["details"] == {"ticket": MASK}
    assert {"ticket", "spouse", "email"} <= definition_pii_keys(task.definition)


def test_everything_under_a_personal_key_is_masked_nested_values_too():
    """An address given as an object is masked field by field, not passed through."""
    redactor = Redactor()
    masked = redactor.data({"address": {"street": "1 Main St", "city": "Paris"}})
    assert masked == {"address": {"street": MASK, "city": MASK}}
    assert redactor.data({"to": ["ann@example.org"]}) == {"to": ["a***@example.org"]}


def test_free_text_loses_emails_and_the_tasks_personal_values():
    """An error naming the customer keeps its meaning but not the person."""
    task = a_task(customer_name="Ada Lovelace", ticket="T-12345")
    step = Step(results={"to": "ada@bounce.example.com"}, approval_request=None)
    redactor = task_redactor(task, reveal=False, steps=[step])
    text = redactor.text(
        "mailer refused 'ada@bounce.example.com' for ada lovelace (ticket T-12345)"
    )
    assert text == "mailer refused 'a***@bounce.example.com' for *** (ticket ***)"
    error = redactor.error(
        {"code": "x", "message": "to Ada Lovelace", "traceback": "Ada Lovelace"}
    )
    assert error == {"code": "x", "message": f"to {MASK}", "traceback": MASK}


def test_strings_in_structured_data_are_scrubbed_like_free_text():
    """A manual resolve's note under an ordinary key loses the address it holds."""
    redactor = Redactor()
    assert redactor.data({"note": "called bob@example.com"}) == {
        "note": "called b***@example.com"
    }


def test_a_known_value_masks_only_whole_words():
    """The name "Ann" leaves "Annual" and "Joanna" alone."""
    redactor = Redactor(values=frozenset({"Ann"}))
    assert redactor.text("Annual report for Joanna, sent to Ann.") == (
        "Annual report for Joanna, sent to ***."
    )


def test_short_values_are_not_learnt():
    """A two-letter value ("NY") would mask unrelated text; it is not collected."""
    redactor = context_redactor(a_task(address="NY", name="Bo"), reveal=False)
    assert redactor.values == frozenset()
    assert redactor.text("NYC and Bob") == "NYC and Bob"


def test_learn_adds_the_values_of_an_events_own_metadata():
    """An audit event's reason is scrubbed of the names in its own metadata."""
    redactor = Redactor().learn({"results": {"customer_name": "Grace Hopper"}})
    assert redactor.text("phoned Grace Hopper") == f"phoned {MASK}"


def test_a_pii_viewer_sees_everything_unchanged():
    """Revealing redactors return the data as given (opened, never masked)."""
    task = a_task(ticket="T-1", customer_email="ada@example.com")
    redactor = task_redactor(task, reveal=True, steps=[])
    assert redactor.reveal
    assert redactor.data(task.context) == task.context
    assert redactor.text("ada@example.com") == "ada@example.com"
