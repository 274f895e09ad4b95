"""Fixtures of the REST API tests: namespaces, users with roles, tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from namespaces.models import Namespace
from tasker_project.core.actors import Actor
from tests.factories import UserFactory

SYSTEM = Actor.system_actor("test")
PASSWORD = "correct-horse-battery"  # noqa: S105 - a test user's password


def bearer(user: AbstractBaseUser) -> str:
    """Return an ``Authorization`` value holding a real access token for ``user``."""
    return f"Bearer {AccessToken.for_user(user)}"


@pytest.fixture
def api() -> APIClient:
    """An unauthenticated DRF test client."""
    return APIClient()


@pytest.fixture
def make_user(synced) -> Callable[..., AbstractBaseUser]:
    """Return ``make(username, {namespace_slug: [roles]})`` with a usable password."""

    def make(
        username: str, roles: dict[str, Iterable[str]] | None = None, **extra: Any
    ) -> AbstractBaseUser:
        user = UserFactory(
            username=username,
            roles={
                Namespace.objects.get(slug=slug): names
                for slug, names in (roles or {}).items()
            },
            **extra,
        )
        user.set_password(PASSWORD)
        user.save()
        return user

    return make


@pytest.fixture
def client_for() -> Callable[[AbstractBaseUser | None], APIClient]:
    """Return ``client_for(user)``: a client sending ``user``'s bearer token."""

    def make(user: AbstractBaseUser | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return client

    return make


def assert_error_body(response: Any) -> dict[str, Any]:
    """Assert ``response`` carries exactly the one API error body; return it."""
    assert response["Content-Type"].startswith("application/json"), response[
        "Content-Type"
    ]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    assert isinstance(body["error"]["message"], str), body
    assert isinstance(body["error"]["fields"], dict), body
    return body["error"]


# Every role in both test namespaces: a caller allowed almost everything.
ALL_ROLES_ANYWHERE = {
    slug: ["viewer", "operator", "approver", "maintainer", "pii_viewer"]
    for slug in ("crossteam", "testing")
}
