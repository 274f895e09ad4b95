"""Domain errors: a stable ``code`` and a message naming what is wrong.

The API maps them to 4xx responses with one error body, the CLI to exit
code 2 and the admin to a message; a 5xx or a traceback is a bug.
"""

from __future__ import annotations

from typing import Any


class TaskerError(Exception):
    """Base of every domain error."""

    code = "tasker_error"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or {}

    def as_dict(self) -> dict[str, Any]:
        """Return the error body shared by every interface."""
        return {"code": self.code, "message": self.message, "fields": self.fields}


class ContextValidationError(TaskerError):
    """The task context does not match the definition's JSON Schema."""

    code = "invalid_context"


class InvalidJSON(TaskerError):
    """A value cannot be stored as JSON (see :mod:`tasker_project.core.json_values`)."""

    code = "invalid_json"


class NotFound(TaskerError):
    """No such object, or one in a namespace the caller cannot see."""

    code = "not_found"
    http_status = 404


class DefinitionNotFound(NotFound):
    """No such namespace, workflow or version."""

    code = "definition_not_found"
    http_status = 404


class DefinitionDeprecated(TaskerError):
    """The requested version is deprecated and refuses new starts."""

    code = "definition_deprecated"


class IdempotencyConflict(TaskerError):
    """The idempotency key was already used with another payload."""

    code = "idempotency_conflict"
    http_status = 409


class IllegalTransition(TaskerError):
    """The state machine does not allow this change from the current state."""

    code = "illegal_transition"
    http_status = 409


class ConcurrentChange(TaskerError):
    """The object changed while the operation ran; nothing was written."""

    code = "concurrent_change"
    http_status = 409


class PermissionDenied(TaskerError):
    """The caller can see the object but their roles do not allow the action."""

    code = "permission_denied"
    http_status = 403
