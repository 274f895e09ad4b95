"""Forms behind the admin's start, resolve and decide views.

They only parse input (JSON text into objects); the services validate it
against the workflow and the state machine, and :func:`add_tasker_error` /
:func:`add_start_error` put what they refuse back on the form, field by
field. The start form's context fields are generated from the workflow's
JSON Schema by :mod:`workflows.schema_forms`.
"""

from __future__ import annotations

from typing import Any

from django import forms

from tasker_project.core.errors import TaskerError
from workflows.schema_forms import SchemaForm, parse_json_text

JSON_WIDGET_ATTRS = {"rows": 16, "cols": 80, "class": "vLargeTextField tasker-json"}


def parse_json_object(text: str) -> dict[str, Any]:
    """Return ``text`` parsed as a storable JSON object; raise ValidationError."""
    value = parse_json_text(text)
    if not isinstance(value, dict):
        raise forms.ValidationError(
            "Enter a JSON object ({...}), not %(kind)s.",
            code="not_an_object",
            params={"kind": type(value).__name__},
        )
    return value


class ResolveStepForm(forms.Form):
    """Resolve a pending or failed step by hand with the results it should have had."""

    required_css_class = "required"

    results = forms.CharField(
        initial="{}",
        widget=forms.Textarea(attrs=JSON_WIDGET_ATTRS),
        help_text="A JSON object; dependent steps receive it as this step's results.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="Why the step is resolved by hand; kept in the audit trail.",
    )

    def clean_results(self) -> dict[str, Any]:
        return parse_json_object(self.cleaned_data["results"])


def add_tasker_error(form: forms.Form, exc: TaskerError) -> None:
    """Show a service's refusal on ``form``: the message, then each field error.

    Paths under a form field (``context.payment_id``) go to that field,
    prefixed with the rest of the path; anything else is a form-wide error.
    """
    form.add_error(None, exc.message)
    for path, messages in exc.fields.items():
        field, _, rest = path.partition(".")
        for message in messages:
            if field in form.fields:
                form.add_error(field, f"{rest}: {message}" if rest else message)
            else:
                form.add_error(None, f"{path}: {message}")


class DecisionForm(forms.Form):
    """Approve or reject one approval step; the comment is kept with the decision."""

    required_css_class = "required"

    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="Why you decide so; stored on the step and in the audit trail.",
    )


class StartOptionsForm(forms.Form):
    """What the start form asks besides the context: reason and idempotency key."""

    required_css_class = "required"

    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="Why you start it; kept on the task and in the audit trail.",
    )
    idempotency_key = forms.CharField(
        required=False,
        max_length=200,
        help_text="Optional. Starting again with the same key and input returns "
        "the task the first start created instead of a new one.",
    )

    def clean_idempotency_key(self) -> str | None:
        return self.cleaned_data["idempotency_key"].strip() or None


def add_start_error(
    context_form: SchemaForm, options_form: forms.Form, exc: TaskerError
) -> None:
    """Show a refused start on the forms: each ``context.<path>`` on its field.

    The service's message becomes a form-wide error only when some part of
    the refusal has no field of its own (a deprecated version, a conflict),
    so a schema violation reads as errors next to the fields alone.
    """
    unplaced = not exc.fields
    for path, messages in exc.fields.items():
        head, _, rest = path.partition(".")
        for message in messages:
            if head == "context" and context_form.add_context_error(rest, message):
                continue
            if path in options_form.fields:
                options_form.add_error(path, message)
                continue
            unplaced = True
    if unplaced:
        context_form.add_error(None, exc.message)
