"""For auditors: a task's whole history, and the audit export's filters."""

from __future__ import annotations

from rest_framework import serializers

from audit.export import FORMATS
from workflows.api.serializers.inputs import SentText


class HistoryEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["task_transition", "step_transition", "audit"]
    )
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    step = serializers.CharField(allow_null=True)
    from_status = serializers.CharField(allow_null=True)
    to_status = serializers.CharField(allow_null=True)
    action = serializers.CharField(allow_null=True)
    attempt = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    metadata = serializers.DictField()


class AuditExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=FORMATS, required=False, default="json")
    actor = SentText(max_length=150, required=False, help_text="An actor label.")
    action = SentText(max_length=64, required=False)
    object_type = SentText(max_length=64, required=False)
    object_id = SentText(max_length=64, required=False)
    since = serializers.DateTimeField(required=False, help_text="Inclusive.")
    until = serializers.DateTimeField(required=False, help_text="Exclusive.")


class AuditExportRowSerializer(serializers.Serializer):
    id = serializers.CharField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField()
    initiator = serializers.CharField(allow_blank=True)
    action = serializers.CharField()
    namespace = serializers.CharField(allow_null=True)
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    metadata = serializers.DictField()
    correlation_id = serializers.CharField(allow_blank=True)
    remote_addr = serializers.CharField(allow_null=True)
    chain = serializers.CharField()
    seq = serializers.IntegerField()
    hash = serializers.CharField()
