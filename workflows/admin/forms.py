"""Forms behind the admin's start and resolve views.

They only parse input (JSON text into objects); the services validate it
against the workflow and the state machine, and :func:`add_tasker_error`
puts what they refuse back on the form, field by field.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from workflows.errors import TaskerError

JSON_WIDGET_ATTRS = {"rows": 16, "cols": 80, "class": "vLargeTextField tasker-json"}


def parse_json_object(text: str) -> dict[str, Any]:
    """Return ``text`` parsed as a JSON object; raise ValidationError otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            "Enter valid JSON: %(error)s",
            code="invalid_json",
            params={"error": f"{exc.msg} (line {exc.lineno}, column {exc.colno})"},
        ) from exc
    if not isinstance(value, dict):
        raise forms.ValidationError(
            "Enter a JSON object ({...}), not %(kind)s.",
            code="not_an_object",
            params={"kind": type(value).__name__},
        )
    return value


class StartTaskForm(forms.Form):
    """Start one task of one definition version."""

    context = forms.CharField(
        widget=forms.Textarea(attrs=JSON_WIDGET_ATTRS),
        help_text="The task context, a JSON object matching the workflow's schema.",
    )
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

    def clean_context(self) -> dict[str, Any]:
        return parse_json_object(self.cleaned_data["context"])

    def clean_idempotency_key(self) -> str | None:
        return self.cleaned_data["idempotency_key"].strip() or None


class ResolveStepForm(forms.Form):
    """Resolve a pending or failed step by hand with the results it should have had."""

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
