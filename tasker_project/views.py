"""Project-wide error views."""

from django.http import HttpRequest, HttpResponse
from django.views.defaults import page_not_found

from workflows.api.errors import json_not_found


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Answer unknown /api/ paths in the API's error body, others as HTML."""
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return page_not_found(request, exception)
