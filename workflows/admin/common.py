"""Building blocks shared by the workflow admin pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit.pii import Redactor, task_redactor
from namespaces.models import Namespace
from namespaces.permissions import namespaces_for
from namespaces.roles import Action
from tasker_project.core.errors import TaskerError
from workflows.engine.states import StepStatus, TaskStatus

# Background colours of the status badges, one per status of tasks and steps.
STATUS_COLOURS: dict[str, str] = {
    StepStatus.PENDING: "#6c757d",
    StepStatus.ENQUEUED: "#3b82f6",
    StepStatus.IN_PROGRESS: "#1d4ed8",
    StepStatus.WAITING_FOR_RETRY: "#d97706",
    StepStatus.WAITING_FOR_APPROVAL: "#b45309",
    StepStatus.WAITING_FOR_SUBTASK: "#b45309",
    StepStatus.COMPLETE: "#15803d",
    StepStatus.FAILED: "#b91c1c",
    StepStatus.CANCELLED: "#374151",
    StepStatus.RESOLVED_MANUALLY: "#7e22ce",
}
STATUS_LABELS: dict[str, str] = {**dict(StepStatus.choices), **dict(TaskStatus.choices)}


def status_badge(status: str) -> SafeString:
    """Return ``status`` as a coloured pill that reads the same on every page."""
    return format_html(
        '<span class="tasker-status tasker-status-{}" style="display:inline-block;'
        "padding:1px 8px;border-radius:9px;color:#fff;background:{};"
        'font-weight:600;white-space:nowrap">{}</span>',
        status,
        STATUS_COLOURS.get(status, "#6c757d"),
        STATUS_LABELS.get(status, status),
    )


def pretty_json(value: Any) -> SafeString | str:
    """Return ``value`` as indented JSON in a ``<pre>``; ``-`` when absent."""
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html(
        '<pre class="tasker-json" style="margin:0;white-space:pre-wrap;'
        'max-height:30em;overflow:auto">{}</pre>',
        text,
    )


# The admin request being rendered; set around every scoped admin view (a
# ContextVar: admin instances serve all threads), so display methods, which
# receive only the object, can ask what its viewer may see.
_admin_request: ContextVar[HttpRequest | None] = ContextVar(
    "tasker_admin_request", default=None
)


def request_redactor(request: HttpRequest | None, task: Any) -> Redactor:
    """Return the redactor of ``task`` for the user of ``request``.

    Built once per task and request (a changelist asks per row); without a
    request everything is masked: the safe side.
    """
    if request is None:
        return task_redactor(task, reveal=False)
    cache: dict[Any, Redactor] = request.__dict__.setdefault("_tasker_redactors", {})
    if task.pk not in cache:
        cache[task.pk] = task_redactor(
            task, reveal=may(request, task.namespace_id, Action.VIEW_PII)
        )
    return cache[task.pk]


def current_admin_request() -> HttpRequest | None:
    """Return the admin request being rendered, if inside :func:`rendering_for`."""
    return _admin_request.get()


def admin_redactor(task: Any) -> Redactor:
    """Return the redactor of ``task`` for the admin request being rendered."""
    return request_redactor(_admin_request.get(), task)


def redacted_json(task: Any, value: Any) -> SafeString | str:
    """Return :func:`pretty_json` of ``value``, masked unless the user is pii_viewer."""
    return pretty_json(admin_redactor(task).data(value))


def redacted_text(task: Any, value: Any) -> str:
    """Return free text of ``task`` (error, reason) scrubbed unless pii_viewer."""
    return admin_redactor(task).text(value) or "-"


def admin_link(obj: Model | None, label: Any = None) -> SafeString | str:
    """Return a link to ``obj``'s admin page, or ``-`` when there is none."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if label is None else label)


def visible_link(
    request: HttpRequest, obj: Model | None, namespace: Namespace | None, label: Any
) -> SafeString | str:
    """Link ``obj`` when the user can see its namespace, else name it without a link.

    Cross-team links (a payments child task of a customer_success step)
    must not lead a user to a page that does not exist for them.
    """
    if obj is None:
        return "-"
    if may(request, namespace, Action.VIEW):
        return admin_link(obj, label)
    return format_html(
        '{} <span class="help">(team {}; not visible to you)</span>', label, namespace
    )


def report_tasker_error(
    model_admin: admin.ModelAdmin, request: HttpRequest, subject: str, exc: TaskerError
) -> None:
    """Tell the user, as an error message, why ``subject`` was refused."""
    model_admin.message_user(request, f"{subject}: {exc.message}", messages.ERROR)


def namespace_ids(request: HttpRequest, action: str = Action.VIEW) -> set[int]:
    """Return the ids of the namespaces where the user may ``action``.

    Cached on the request: a changelist asks once per row, and roles do not
    change within one request.
    """
    cache: dict[str, set[int]] = request.__dict__.setdefault("_tasker_ns_ids", {})
    if action not in cache:
        cache[action] = set(
            namespaces_for(request.user, action).values_list("pk", flat=True)
        )
    return cache[action]


def may(request: HttpRequest, namespace: Namespace | int | None, action: str) -> bool:
    """Return whether the user may ``action`` in ``namespace`` (object or id)."""
    if namespace is None:
        return False
    if request.user.is_superuser:
        return request.user.is_active
    pk = namespace if isinstance(namespace, int) else namespace.pk
    return pk in namespace_ids(request, action)


def namespace_of(obj: Any, path: str) -> Namespace | None:
    """Follow ``path`` (``task__namespace``) from ``obj`` to its namespace."""
    for attr in path.split("__"):
        obj = getattr(obj, attr, None)
        if obj is None:
            return None
    return obj


@contextmanager
def rendering_for(request: HttpRequest) -> Iterator[None]:
    """Let display methods inside the block redact for ``request``'s user."""
    token = _admin_request.set(request)
    try:
        yield
    finally:
        _admin_request.reset(token)


def render_now(response: Any) -> Any:
    """Render a template response while :func:`rendering_for` still holds."""
    if hasattr(response, "render"):
        response.render()
    return response


class RedactingAdminMixin:
    """Render the change form and the list inside :func:`rendering_for`.

    Display methods then redact for the request's user; the response is
    rendered before the block ends, so nothing is rendered unredacted later.
    """

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with rendering_for(request):
            return render_now(super().changeform_view(request, *args, **kwargs))  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with rendering_for(request):
            return render_now(super().changelist_view(request, *args, **kwargs))  # type: ignore[misc]


class ScopedAdminMixin(RedactingAdminMixin):
    """Scope an admin to the namespaces where the user holds a role.

    :attr:`namespace_path` leads from the model to its namespace. Superusers
    see everything; other staff hold no Django model permissions, so module
    and view permission come from their team roles, and an object of a
    namespace they cannot see is simply not in the queryset: its URL
    answers like a missing object. Nothing is added, changed or deleted
    through these forms; actions go through the services, which check the
    role again and audit refusals.
    """

    namespace_path = "namespace"

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Return the part of ``queryset`` that ``request.user`` may see."""
        if request.user.is_superuser:
            return queryset
        return queryset.filter(
            **{f"{self.namespace_path}__in": namespaces_for(request.user, Action.VIEW)}
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope_queryset(request, super().get_queryset(request))  # type: ignore[misc]

    def get_search_fields(self, request: HttpRequest) -> Any:
        """Search free-text reasons for superusers only.

        A reason may hold personal data that the page shows masked; a match
        on it would still tell the user the text is there.
        """
        fields = super().get_search_fields(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return fields
        return [f for f in fields if f.lstrip("=^@").split("__")[-1] != "reason"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return super().has_module_permission(request)  # type: ignore[misc]
        return bool(namespace_ids(request, Action.VIEW))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)  # type: ignore[misc]
        if obj is None:
            return bool(namespace_ids(request, Action.VIEW))
        return may(request, namespace_of(obj, self.namespace_path), Action.VIEW)


class ReadOnlyAdminMixin:
    """View-only admin: no add, change or delete through the admin forms.

    Used for engine-owned rows (runs are changed only by services) and for
    the append-only history (transitions), which nothing may change at all.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A tabular inline that only lists rows of an object the user can see.

    The parent admin has already scoped and permission-checked the object;
    its rows belong to the same namespace.
    """

    extra = 0
    max_num = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


class NamespaceFilter(admin.RelatedOnlyFieldListFilter):
    """Filter by namespace, offering only the namespaces of visible rows."""


class WorkflowNameFilter(admin.SimpleListFilter):
    """Filter by workflow name, offering only names of visible rows.

    Django's default filter on ``definition__name`` would list every
    team's workflows.
    """

    title = "workflow"
    parameter_name = "workflow"
    path = "definition__name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = (
            model_admin.get_queryset(request)
            .order_by()
            .values_list(self.path, flat=True)
            .distinct()
        )
        return [(name, name) for name in sorted(set(names))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(**{self.path: self.value()})
        return queryset
