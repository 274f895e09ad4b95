"""API views: parse, authorise (in selectors and services), call one, serialize."""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from audit.export import audit_export
from audit.pii import task_redactor
from namespaces.permissions import namespace_ids_for, roles_snapshot, user_roles
from namespaces.roles import Action
from tasker_project.core.actors import Actor
from tasker_project.core.context import correlation_id as request_correlation_id
from tasker_project.core.errors import NotFound, TaskerError
from tasker_project.throttling import ScopedRateThrottle
from workflows import selectors, services
from workflows.api import serializers as s
from workflows.models import Step, Task

ERRORS = {
    code: OpenApiResponse(s.ErrorSerializer, description=text)
    for code, text in {
        400: "Invalid input; `fields` lists every problem by path.",
        401: "Not authenticated.",
        403: "Visible, but your roles do not allow this.",
        404: "No such object, or one in a namespace you cannot see.",
        409: "Conflict: illegal state change or idempotency key reuse.",
        413: "Request body too large.",
        415: "Unsupported media type: send application/json.",
        429: "Throttled.",
    }.items()
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Return the documented error responses for ``codes`` (plus 401 and 429)."""
    return {code: ERRORS[code] for code in sorted({401, 429, *codes})}


def body_errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Return the documented errors of an endpoint that reads a JSON body."""
    return errors(400, 413, 415, *codes)


def actor_of(request: Request) -> Actor:
    """Return the acting user of an authenticated request."""
    return Actor.of(request.user)


def serializer_context(request: Request) -> dict[str, Any]:
    """Return the serializer context: the namespaces whose PII the caller sees."""
    return {
        "request": request,
        "pii_namespace_ids": namespace_ids_for(request.user, Action.VIEW_PII),
    }


def validated(serializer_class: type, data: Any) -> dict[str, Any]:
    """Validate ``data`` or raise the 400 listing every field."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ApiView(APIView):
    """An API view whose request reads the caller's roles once, in one query."""

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with roles_snapshot():
            return super().dispatch(request, *args, **kwargs)


# --- namespaces and definitions -------------------------------------------------


def _namespace_body(namespace, user) -> dict[str, Any]:
    return {
        "slug": namespace.slug,
        "name": namespace.name,
        "description": namespace.description,
        "roles": sorted(user_roles(user, namespace)),
    }


class NamespacePathView(ApiView):
    """A view looked up by names in its path: slug, workflow name, version."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # No name holds a NUL, and PostgreSQL refuses one even in a lookup.
        if any("\x00" in str(value) for value in kwargs.values()):
            raise NotFound("no such object")


class NamespaceListView(ApiView):
    @extend_schema(responses={200: s.NamespaceSerializer(many=True), **errors()})
    def get(self, request: Request) -> Response:
        """List the namespaces you hold a role in, with your roles."""
        namespaces = selectors.namespace_list(user=request.user)
        return Response([_namespace_body(ns, request.user) for ns in namespaces])


class NamespaceDetailView(NamespacePathView):
    @extend_schema(responses={200: s.NamespaceSerializer, **errors(404)})
    def get(self, request: Request, slug: str) -> Response:
        """Show one namespace and your roles in it."""
        namespace = selectors.namespace_get(user=request.user, slug=slug)
        return Response(_namespace_body(namespace, request.user))


class WorkflowListView(NamespacePathView):
    @extend_schema(
        responses={200: s.WorkflowSummarySerializer(many=True), **errors(404)}
    )
    def get(self, request: Request, slug: str) -> Response:
        """List a namespace's workflows with their versions and default."""
        selectors.namespace_get(user=request.user, slug=slug)
        workflows: dict[str, dict[str, Any]] = {}
        for definition in selectors.definition_list(user=request.user, namespace=slug):
            entry = workflows.setdefault(
                definition.name,
                {
                    "name": definition.name,
                    "description": definition.description,
                    "default_version": None,
                    "versions": [],
                },
            )
            entry["versions"].append(definition.version)
            if definition.is_default:
                entry["default_version"] = definition.version
                entry["description"] = definition.description
        return Response(list(workflows.values()))


class VersionListView(NamespacePathView):
    @extend_schema(
        responses={200: s.VersionSummarySerializer(many=True), **errors(404)}
    )
    def get(self, request: Request, slug: str, name: str) -> Response:
        """List the versions of one workflow, newest first."""
        definitions = selectors.definition_list(
            user=request.user, namespace=slug, name=name
        )
        if not definitions:
            raise NotFound(f"workflow {slug}.{name} not found")
        return Response(s.VersionSummarySerializer(definitions, many=True).data)


class VersionDetailView(NamespacePathView):
    @extend_schema(responses={200: s.VersionDetailSerializer, **errors(404)})
    def get(self, request: Request, slug: str, name: str, version: str) -> Response:
        """Show one version: steps, the DAG and the context JSON Schema."""
        definition = (
            selectors.definition_list(user=request.user, namespace=slug, name=name)
            .filter(version=version)
            .prefetch_related("step_templates")
            .first()
        )
        if definition is None:
            raise NotFound(f"workflow {slug}.{name}@{version} not found")
        return Response(s.VersionDetailSerializer(definition).data)


# --- tasks --------------------------------------------------------------------------


class TaskCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def task_detail_response(request: Request, task_id: Any, code: int = 200) -> Response:
    """Return the full task body as the caller may see it."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    context = {
        **serializer_context(request),
        "transitions": selectors.task_transitions(task=task),
    }
    return Response(s.TaskDetailSerializer(task, context=context).data, status=code)


class TaskListView(ApiView):
    pagination_class = TaskCursorPagination

    @extend_schema(
        parameters=[
            s.TaskListQuerySerializer,
            OpenApiParameter("cursor", str, description="Opaque page cursor."),
        ],
        responses={200: s.TaskPageSerializer, **errors(400, 404)},
        operation_id="tasks_list",
    )
    def get(self, request: Request) -> Response:
        """List the tasks you can see, newest first, filtered."""
        # A plain dict, not the QueryDict: DRF reads "" in form-style input as
        # "not given", which would turn `?status=` into no filter at all.
        filters = validated(s.TaskListQuerySerializer, request.query_params.dict())
        filters.pop("page_size", None)  # the paginator reads it
        queryset = selectors.task_summary_list(user=request.user, **filters)
        paginator = self.pagination_class()
        # Never None: CursorPagination returns None only without a page size,
        # and TaskCursorPagination always has one (50, or the valid ?page_size).
        page = cast(
            "list[Task]", paginator.paginate_queryset(queryset, request, view=self)
        )
        context = {
            **serializer_context(request),
            "step_counts": selectors.step_counts(tasks=page),
        }
        data = s.TaskSummarySerializer(page, many=True, context=context).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request=s.TaskCreateSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Same key and payload: 200 with the same task. "
                "Same key, other payload: 409.",
            )
        ],
        responses={
            201: s.TaskDetailSerializer,
            200: s.TaskDetailSerializer,
            **body_errors(403, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        """Start a task of a workflow version (the default unless `version`)."""
        data = validated(s.TaskCreateSerializer, request.data)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= 200 and key.isprintable()):
            raise TaskerError(
                "Idempotency-Key must be 1 to 200 printable characters",
                code="invalid",
                fields={"Idempotency-Key": ["Must be 1 to 200 printable characters."]},
            )
        task = services.task_start(
            namespace=data["namespace"],
            workflow=data["workflow"],
            version=data.get("version"),
            context=data["context"],
            actor=actor_of(request),
            idempotency_key=key,
            reason=data.get("reason", ""),
            tags=data.get("tags", []),
            source_system="api",
            # The client's X-Correlation-ID, or the id the middleware gave.
            correlation_id=request_correlation_id(),
        )
        created = getattr(task, "was_created", True)
        return task_detail_response(
            request, task.pk, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class TaskDetailView(ApiView):
    @extend_schema(responses={200: s.TaskDetailSerializer, **errors(404)})
    def get(self, request: Request, task_id: str) -> Response:
        """Show a task: context (PII masked unless pii_viewer), steps, history."""
        return task_detail_response(request, task_id)


class TaskCancelView(ApiView):
    @extend_schema(
        request=s.ReasonSerializer,
        responses={200: s.TaskDetailSerializer, **body_errors(403, 404, 409)},
    )
    def post(self, request: Request, task_id: str) -> Response:
        """Cancel a task and its unfinished steps (operator)."""
        data = validated(s.ReasonSerializer, request.data)
        task = selectors.task_get(user=request.user, task_id=task_id)
        services.task_cancel(
            task=task, actor=actor_of(request), reason=data.get("reason", "")
        )
        return task_detail_response(request, task_id)


class TaskHistoryView(ApiView):
    @extend_schema(
        responses={200: s.HistoryEntrySerializer(many=True), **errors(404)},
        operation_id="tasks_history",
    )
    def get(self, request: Request, task_id: str) -> Response:
        """Show a task's whole history, oldest first: its and its steps'
        transitions and the audit events about them (PII masked unless
        pii_viewer)."""
        task = selectors.task_get(user=request.user, task_id=task_id)
        reveal = task.namespace_id in namespace_ids_for(request.user, Action.VIEW_PII)
        redactor = task_redactor(task, reveal=reveal, steps=task.steps.all())
        rows = selectors.task_history(task=task, redactor=redactor)
        return Response(s.HistoryEntrySerializer(rows, many=True).data)


# --- the audit trail -----------------------------------------------------------------


class JsonOnlyNegotiation(BaseContentNegotiation):
    """Answer in JSON whatever ``?format=`` says: there it names the export's format.

    DRF reads ``?format=`` as a renderer override and would answer 404 for
    ``csv``; the export view renders its CSV itself.
    """

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Any, renderers: Any, format_suffix: Any = None
    ) -> Any:
        return renderers[0], renderers[0].media_type


class AuditExportView(ApiView):
    content_negotiation_class = JsonOnlyNegotiation

    @extend_schema(
        parameters=[s.AuditExportQuerySerializer],
        responses={
            (200, "application/json"): s.AuditExportRowSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
            **errors(400, 403),
        },
        operation_id="audit_export",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        """Export audit events as CSV or JSON (maintainers: their namespaces'
        events; superusers: all). The export is itself audited."""
        filters = validated(s.AuditExportQuerySerializer, request.query_params.dict())
        fmt = filters.pop("format")
        export = audit_export(user=request.user, fmt=fmt, filters=filters)
        response = HttpResponse(export.content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response


# --- steps ---------------------------------------------------------------------------


def step_response(request: Request, step: Step) -> Response:
    step = selectors.step_get(user=request.user, step_id=step.pk)
    return Response(s.StepSerializer(step, context=serializer_context(request)).data)


class StepDetailView(ApiView):
    @extend_schema(responses={200: s.StepSerializer, **errors(404)})
    def get(self, request: Request, task_id: str, step_id: str) -> Response:
        """Show one step of a task."""
        step = selectors.step_get(user=request.user, task_id=task_id, step_id=step_id)
        return step_response(request, step)


class StepActionView(ApiView):
    """A POST that validates a body, finds a visible step and calls one service."""

    def act(
        self,
        request: Request,
        task_id: str,
        step_id: str,
        body: type,
        perform: Any,
    ) -> Response:
        data = validated(body, request.data)
        step = selectors.step_get(user=request.user, task_id=task_id, step_id=step_id)
        perform(step=step, actor=actor_of(request), data=data)
        return step_response(request, step)


class StepRetryView(StepActionView):
    @extend_schema(
        request=s.ReasonSerializer,
        responses={200: s.StepSerializer, **body_errors(403, 404, 409)},
    )
    def post(self, request: Request, task_id: str, step_id: str) -> Response:
        """Retry a failed step with a fresh budget of attempts (operator)."""
        return self.act(
            request,
            task_id,
            step_id,
            s.ReasonSerializer,
            lambda step, actor, data: services.step_retry(
                step=step, actor=actor, reason=data.get("reason", "")
            ),
        )


class StepResolveView(StepActionView):
    @extend_schema(
        request=s.ResolveSerializer,
        responses={200: s.StepSerializer, **body_errors(403, 404, 409)},
    )
    def post(self, request: Request, task_id: str, step_id: str) -> Response:
        """Resolve a pending or failed step with supplied results (operator)."""
        return self.act(
            request,
            task_id,
            step_id,
            s.ResolveSerializer,
            lambda step, actor, data: services.step_resolve(
                step=step,
                actor=actor,
                results=data["results"],
                reason=data.get("reason", ""),
            ),
        )


class StepApproveView(StepActionView):
    @extend_schema(
        request=s.DecisionSerializer,
        responses={200: s.StepSerializer, **body_errors(403, 404, 409)},
    )
    def post(self, request: Request, task_id: str, step_id: str) -> Response:
        """Approve a step waiting for approval (approver, not the initiator)."""
        return self.act(
            request,
            task_id,
            step_id,
            s.DecisionSerializer,
            lambda step, actor, data: services.step_approve(
                step=step, actor=actor, comment=data["comment"]
            ),
        )


class StepRejectView(StepActionView):
    @extend_schema(
        request=s.DecisionSerializer,
        responses={200: s.StepSerializer, **body_errors(403, 404, 409)},
    )
    def post(self, request: Request, task_id: str, step_id: str) -> Response:
        """Reject a step waiting for approval; the task fails (approver)."""
        return self.act(
            request,
            task_id,
            step_id,
            s.DecisionSerializer,
            lambda step, actor, data: services.step_reject(
                step=step, actor=actor, comment=data["comment"]
            ),
        )


class ApprovalListView(ApiView):
    @extend_schema(responses={200: s.ApprovalItemSerializer(many=True), **errors()})
    def get(self, request: Request) -> Response:
        """List steps waiting for a decision you may make."""
        steps = selectors.approvals_for(user=request.user).select_related(
            "template", "decided_by"
        )
        return Response(
            s.ApprovalItemSerializer(
                steps, many=True, context=serializer_context(request)
            ).data
        )


# --- authentication --------------------------------------------------------------


@extend_schema(responses={200: s.TokenPairSerializer, **body_errors()}, auth=[])
class TokenObtainView(TokenObtainPairView):
    """Exchange a username and password for an access and a refresh token."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


@extend_schema(auth=[], responses={200: s.TokenPairSerializer, **body_errors()})
class TokenRefreshRotateView(TokenRefreshView):
    """Exchange a refresh token for a new pair; the old refresh token is revoked."""

    serializer_class = s.TokenRefreshRotateSerializer


@extend_schema(auth=[], responses={200: None, **body_errors()})
class TokenRevokeView(TokenBlacklistView):
    """Revoke a refresh token (log out)."""
