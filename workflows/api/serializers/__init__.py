"""API shapes. Serializers validate input and render output; no logic here.

One module per part of the API; this package re-exports what the views
(``from workflows.api import serializers as s``) and the tests use.
"""

from workflows.api.serializers.audit import (
    AuditExportQuerySerializer,
    AuditExportRowSerializer,
    HistoryEntrySerializer,
)
from workflows.api.serializers.auth import (
    TokenPairSerializer,
    TokenRefreshRotateSerializer,
)
from workflows.api.serializers.definitions import (
    DagEdgeSerializer,
    DagSerializer,
    NamespaceSerializer,
    StepTemplateSerializer,
    VersionDetailSerializer,
    VersionSummarySerializer,
    WorkflowSummarySerializer,
)
from workflows.api.serializers.errors import ErrorDetailSerializer, ErrorSerializer
from workflows.api.serializers.inputs import (
    MAX_TAGS,
    DecisionSerializer,
    ReasonSerializer,
    ResolveSerializer,
    SentText,
    TaskCreateSerializer,
    TaskListQuerySerializer,
    storable_json,
)
from workflows.api.serializers.steps import (
    ApprovalItemSerializer,
    ApprovalSerializer,
    StepErrorSerializer,
    StepSerializer,
    step_body,
)
from workflows.api.serializers.tasks import (
    TaskDetailSerializer,
    TaskPageSerializer,
    TaskSummarySerializer,
    TransitionSerializer,
)

__all__ = [
    "MAX_TAGS",
    "ApprovalItemSerializer",
    "ApprovalSerializer",
    "AuditExportQuerySerializer",
    "AuditExportRowSerializer",
    "DagEdgeSerializer",
    "DagSerializer",
    "DecisionSerializer",
    "ErrorDetailSerializer",
    "ErrorSerializer",
    "HistoryEntrySerializer",
    "NamespaceSerializer",
    "ReasonSerializer",
    "ResolveSerializer",
    "SentText",
    "StepErrorSerializer",
    "StepSerializer",
    "StepTemplateSerializer",
    "TaskCreateSerializer",
    "TaskDetailSerializer",
    "TaskListQuerySerializer",
    "TaskPageSerializer",
    "TaskSummarySerializer",
    "TokenPairSerializer",
    "TokenRefreshRotateSerializer",
    "TransitionSerializer",
    "VersionDetailSerializer",
    "VersionSummarySerializer",
    "WorkflowSummarySerializer",
    "step_body",
    "storable_json",
]
