"""The error body of every 4xx response."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    # SerializerMetaclass pops declared fields off the class: at runtime
    # ``self.fields`` is still Serializer.fields, which the stubs cannot know.
    fields: BindingDict = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field path (dotted, e.g. `context.items.0.sku`) → messages.",
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx response."""

    error = ErrorDetailSerializer()
