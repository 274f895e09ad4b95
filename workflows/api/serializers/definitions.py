"""Namespaces and workflow definitions: versions, step templates, the DAG."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from workflows.models import WorkflowDefinition


class NamespaceSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())


class WorkflowSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    default_version = serializers.CharField(allow_null=True)
    versions = serializers.ListField(child=serializers.CharField())


class VersionSummarySerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.slug")

    class Meta:
        model = WorkflowDefinition
        fields = [
            "namespace",
            "name",
            "version",
            "is_default",
            "deprecated",
            "created_at",
        ]


class StepTemplateSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    handler = serializers.CharField()
    description = serializers.CharField()
    depends_on = serializers.ListField(child=serializers.CharField())
    retryable = serializers.BooleanField()
    retry_limit = serializers.IntegerField()
    timeout_seconds = serializers.IntegerField()
    backoff = serializers.SerializerMethodField()

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "base_seconds": {"type": "number"},
                "max_seconds": {"type": "number"},
                "jitter": {"type": "boolean"},
            },
        }
    )
    def get_backoff(self, template: Any) -> dict[str, Any]:
        return {
            "base_seconds": template.backoff_base_seconds,
            "max_seconds": template.backoff_max_seconds,
            "jitter": template.backoff_jitter,
        }


class DagEdgeSerializer(serializers.Serializer):
    # SerializerMetaclass pops declared fields off the class: at runtime
    # ``self.parent`` is still Field.parent, which the stubs cannot know.
    parent: serializers.BaseSerializer = serializers.CharField()  # type: ignore[assignment]
    child = serializers.CharField()


class DagSerializer(serializers.Serializer):
    nodes = serializers.ListField(child=serializers.CharField())
    edges = DagEdgeSerializer(many=True)


class VersionDetailSerializer(VersionSummarySerializer):
    description = serializers.CharField()
    context_schema = serializers.JSONField()
    example_context = serializers.JSONField(allow_null=True)
    steps = serializers.SerializerMethodField()
    dag = serializers.SerializerMethodField()

    class Meta(VersionSummarySerializer.Meta):
        fields = [
            *VersionSummarySerializer.Meta.fields,
            "description",
            "context_schema",
            "example_context",
            "steps",
            "dag",
        ]

    @extend_schema_field(StepTemplateSerializer(many=True))
    def get_steps(self, definition: WorkflowDefinition) -> list[dict[str, Any]]:
        # many=True makes a ListSerializer, whose data is a ReturnList (a list of
        # dicts); the stubs type ``.data`` as one serializer's ReturnDict.
        return cast(
            "list[dict[str, Any]]",
            StepTemplateSerializer(definition.step_templates.all(), many=True).data,
        )

    @extend_schema_field(DagSerializer)
    def get_dag(self, definition: WorkflowDefinition) -> dict[str, Any]:
        templates = list(definition.step_templates.all())
        return {
            "nodes": [t.name for t in templates],
            "edges": [
                {"parent": dep, "child": t.name}
                for t in templates
                for dep in t.depends_on
            ],
        }
