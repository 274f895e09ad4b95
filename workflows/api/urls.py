"""URLs of the REST API, mounted at /api/v1/."""

from django.urls import path

from workflows.api import views

STEP = "tasks/<str:task_id>/steps/<str:step_id>"

urlpatterns = [
    path("auth/token/", views.TokenObtainView.as_view(), name="token-obtain"),
    path(
        "auth/token/refresh/",
        views.TokenRefreshRotateView.as_view(),
        name="token-refresh",
    ),
    path("auth/token/revoke/", views.TokenRevokeView.as_view(), name="token-revoke"),
    path("namespaces/", views.NamespaceListView.as_view(), name="namespace-list"),
    path(
        "namespaces/<str:slug>/",
        views.NamespaceDetailView.as_view(),
        name="namespace-detail",
    ),
    path(
        "namespaces/<str:slug>/workflows/",
        views.WorkflowListView.as_view(),
        name="workflow-list",
    ),
    path(
        "namespaces/<str:slug>/workflows/<str:name>/versions/",
        views.VersionListView.as_view(),
        name="version-list",
    ),
    path(
        "namespaces/<str:slug>/workflows/<str:name>/versions/<str:version>/",
        views.VersionDetailView.as_view(),
        name="version-detail",
    ),
    path("tasks/", views.TaskListView.as_view(), name="task-list"),
    path("tasks/<str:task_id>/", views.TaskDetailView.as_view(), name="task-detail"),
    path(
        "tasks/<str:task_id>/cancel/",
        views.TaskCancelView.as_view(),
        name="task-cancel",
    ),
    path(
        "tasks/<str:task_id>/history/",
        views.TaskHistoryView.as_view(),
        name="task-history",
    ),
    path(f"{STEP}/", views.StepDetailView.as_view(), name="step-detail"),
    path(f"{STEP}/retry/", views.StepRetryView.as_view(), name="step-retry"),
    path(f"{STEP}/resolve/", views.StepResolveView.as_view(), name="step-resolve"),
    path(f"{STEP}/approve/", views.StepApproveView.as_view(), name="step-approve"),
    path(f"{STEP}/reject/", views.StepRejectView.as_view(), name="step-reject"),
    path("approvals/", views.ApprovalListView.as_view(), name="approval-list"),
    path("audit/export/", views.AuditExportView.as_view(), name="audit-export"),
]
