"""Request bodies and query parameters: what the API accepts, checked as sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from tasker_project.core.json_values import json_value_errors
from workflows.engine.states import TaskStatus

MAX_TAGS = 20


def storable_json(value: Any) -> None:
    """Refuse JSON that cannot be stored or rendered back, by path.

    The one check every entry point shares (:mod:`tasker_project.core.json_values`):
    Python's parser turns ``1e999`` into infinity, which no JSON column
    stores; PostgreSQL's jsonb refuses ``\\u0000`` and lone surrogates; and
    very deep nesting exhausts the recursion of every later reader.
    """
    problems = json_value_errors(value, field="")
    if problems:
        raise serializers.ValidationError(problems)


class SentText(serializers.CharField):
    """A CharField whose ``max_length`` counts the text as sent.

    DRF trims surrounding whitespace before its length check, so 3,000
    carriage returns and a letter passed a 2,000-character limit; the
    schema's ``maxLength`` is about the value in the request. And DRF turns
    a number into its text, where the schema says the value is a string.
    """

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if (
            self.max_length is not None
            and isinstance(data, str)
            and len(data) > self.max_length
        ):
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class TaskCreateSerializer(serializers.Serializer):
    namespace = SentText(max_length=63)
    workflow = SentText(max_length=100)
    version = serializers.RegexField(
        r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$",
        max_length=32,
        required=False,
        allow_null=True,
        error_messages={"invalid": "Use MAJOR.MINOR.PATCH."},
    )
    # SerializerMetaclass pops declared fields off the class: at runtime
    # ``self.context`` is still Field.context, which the stubs cannot know.
    context: Mapping[str, Any] = serializers.DictField(  # type: ignore[assignment]
        validators=[storable_json]
    )
    reason = SentText(max_length=2000, required=False, allow_blank=True)
    tags = serializers.ListField(
        child=SentText(max_length=50),
        max_length=MAX_TAGS,
        required=False,
    )


class TaskListQuerySerializer(serializers.Serializer):
    namespace = SentText(max_length=63, required=False)
    workflow = SentText(max_length=100, required=False)
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    page_size = serializers.IntegerField(
        min_value=1, max_value=200, required=False, help_text="Default 50."
    )


class ReasonSerializer(serializers.Serializer):
    reason = SentText(max_length=2000, required=False, allow_blank=True)


class ResolveSerializer(ReasonSerializer):
    results = serializers.DictField(validators=[storable_json])


class DecisionSerializer(serializers.Serializer):
    comment = SentText(max_length=2000)
