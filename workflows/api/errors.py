"""One error body for every 4xx: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from tasker_project.core.errors import TaskerError

logger = logging.getLogger(__name__)


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None
) -> dict:
    """Return the error body every 4xx response carries."""
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested validation detail into ``{"a.b.0": [messages]}``."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "detail") else str(key)
            path = ".".join(p for p in (prefix, name) if p)
            for sub, messages in flatten_errors(value, path).items():
                fields.setdefault(sub, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            fields.setdefault(prefix or "$", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                path = f"{prefix}.{index}" if prefix else str(index)
                for sub, messages in flatten_errors(item, path).items():
                    fields.setdefault(sub, []).extend(messages)
    else:
        fields.setdefault(prefix or "$", []).append(str(detail))
    return fields


_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Map every error the API can raise to the one error body."""
    if isinstance(exc, TaskerError):
        return Response(
            error_body(exc.code, exc.message, exc.fields), status=exc.http_status
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", "request body is too large"),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, RecursionError) and "decoding a JSON" in str(exc):
        # The JSON parser gives up on very deep nesting; the input is at fault.
        return Response(
            error_body("parse_error", "JSON parse error - nested too deeply"),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handler logs it
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
        response.data = error_body(
            "invalid", f"invalid input: {summary}"[:1000], fields
        )
        return response
    code = next(
        (c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)),
        getattr(exc, "default_code", "error"),
    )
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    if isinstance(detail, dict):
        message = str(detail.get("detail", detail))
        code = str(detail.get("code", code)) if "code" in detail else code
    else:
        message = str(detail)
    response.data = error_body(code, message)
    return response


def json_not_found(request, exception=None) -> JsonResponse:
    """Django's 404 for /api/ paths, in the API's error body."""
    return JsonResponse(error_body("not_found", "no such endpoint"), status=404)
