"""Personal data in the admin: masked unless the viewer is ``pii_viewer`` there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest
from django.utils.safestring import SafeString

from audit.access import note_viewed
from audit.pii import Redactor, task_redactor
from namespaces.roles import Action
from namespaces.scoping import may
from tasker_project.admin_kit.display import pretty_json

# The admin request being rendered; set around every redacting admin view (a
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
        reveal = may(request, task.namespace_id, Action.VIEW_PII)
        cache[task.pk] = task_redactor(task, reveal=reveal)
        if reveal and task.data_key_id is not None:
            note_viewed(
                request,
                namespace_id=task.namespace_id,
                object_type="task",
                object_id=task.pk,
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
