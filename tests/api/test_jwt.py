"""JWT authentication: expiry, rotation, blacklist, revocation, live roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from namespaces.models import Namespace
from namespaces.services import membership_revoke
from tests.api.conftest import PASSWORD, SYSTEM, assert_error_body

pytestmark = pytest.mark.django_db

START = {"namespace": "crossteam", "workflow": "parent", "context": {"start": 1}}


def obtain(client: APIClient, username: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token/",
        {"username": username, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def with_token(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_obtained_access_token_authenticates(api, make_user):
    """A password login yields an access token the API accepts."""
    make_user("alice", {"crossteam": ["viewer"]})
    tokens = obtain(api, "alice")
    assert set(tokens) == {"access", "refresh"}
    response = with_token(tokens["access"]).get("/api/v1/namespaces/")
    assert response.status_code == 200
    assert [ns["slug"] for ns in response.json()] == ["crossteam"]


def test_wrong_password_is_refused_with_the_error_body(api, make_user):
    make_user("alice")
    response = api.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "wrong"},
        format="json",
    )
    assert response.status_code == 401
    assert assert_error_body(response)["code"] == "authentication_failed"


def test_access_token_lives_at_most_five_minutes(api, make_user):
    make_user("alice")
    token = AccessToken(obtain(api, "alice")["access"])
    assert 0 < token["exp"] - token["iat"] <= 5 * 60


def test_expired_access_token_is_refused(make_user):
    """An access token past its exp gets 401 with the error body."""
    user = make_user("alice", {"crossteam": ["viewer"]})
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    response = with_token(str(token)).get("/api/v1/namespaces/")
    assert response.status_code == 401
    assert assert_error_body(response)["code"] == "token_not_valid"


def test_tampered_access_token_is_refused(make_user):
    user = make_user("alice", {"crossteam": ["viewer"]})
    token = str(AccessToken.for_user(user))
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = with_token(forged).get("/api/v1/namespaces/")
    assert response.status_code == 401
    assert_error_body(response)


def test_refresh_rotates_and_a_reused_refresh_token_is_refused(api, make_user):
    """Refreshing returns a new pair; the old refresh token is then blacklisted."""
    make_user("alice", {"crossteam": ["viewer"]})
    first = obtain(api, "alice")

    response = api.post(
        "/api/v1/auth/token/refresh/", {"refresh": first["refresh"]}, format="json"
    )
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["refresh"] != first["refresh"]
    assert with_token(second["access"]).get("/api/v1/namespaces/").status_code == 200

    reused = api.post(
        "/api/v1/auth/token/refresh/", {"refresh": first["refresh"]}, format="json"
    )
    assert reused.status_code == 401
    assert assert_error_body(reused)["code"] == "token_not_valid"
    # The rotated-in refresh token still works.
    again = api.post(
        "/api/v1/auth/token/refresh/", {"refresh": second["refresh"]}, format="json"
    )
    assert again.status_code == 200


def test_revoked_refresh_token_cannot_be_used(api, make_user):
    make_user("alice")
    tokens = obtain(api, "alice")
    response = api.post(
        "/api/v1/auth/token/revoke/", {"refresh": tokens["refresh"]}, format="json"
    )
    assert response.status_code == 200
    refused = api.post(
        "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
    )
    assert refused.status_code == 401
    assert_error_body(refused)
    revoked_twice = api.post(
        "/api/v1/auth/token/revoke/", {"refresh": tokens["refresh"]}, format="json"
    )
    assert revoked_twice.status_code == 401


def test_access_token_is_not_a_refresh_token(api, make_user):
    make_user("alice")
    tokens = obtain(api, "alice")
    response = api.post(
        "/api/v1/auth/token/refresh/", {"refresh": tokens["access"]}, format="json"
    )
    assert response.status_code == 401
    assert_error_body(response)


def test_revoked_role_takes_effect_on_the_next_request(api, make_user):
    """The same, still valid token loses the right as soon as the role goes."""
    alice = make_user("alice", {"crossteam": ["operator"]})
    carol = make_user("carol", {"crossteam": ["operator", "viewer"]})
    alice_client = with_token(obtain(api, "alice")["access"])
    carol_client = with_token(obtain(api, "carol")["access"])
    crossteam = Namespace.objects.get(slug="crossteam")

    assert alice_client.post("/api/v1/tasks/", START, format="json").status_code == 201
    assert carol_client.post("/api/v1/tasks/", START, format="json").status_code == 201
    for user in (alice, carol):
        membership_revoke(namespace=crossteam, user=user, role="operator", actor=SYSTEM)

    # alice holds no role left: the namespace no longer exists for her.
    gone = alice_client.post("/api/v1/tasks/", START, format="json")
    assert gone.status_code == 404
    assert_error_body(gone)
    assert alice_client.get("/api/v1/tasks/").json()["results"] == []
    # carol is still a viewer: she sees the namespace but may not start.
    denied = carol_client.post("/api/v1/tasks/", START, format="json")
    assert denied.status_code == 403
    assert assert_error_body(denied)["code"] == "permission_denied"
    assert len(carol_client.get("/api/v1/tasks/").json()["results"]) == 2


def test_inactive_user_token_is_refused(make_user):
    user = make_user("alice", {"crossteam": ["viewer"]})
    token = str(AccessToken.for_user(user))
    user.is_active = False
    user.save()
    response = with_token(token).get("/api/v1/namespaces/")
    assert response.status_code == 401
    assert_error_body(response)


def test_session_authentication_serves_the_browsable_api(make_user):
    """A logged-in browser session gets the HTML browsable API."""
    user = make_user("alice", {"crossteam": ["viewer"]})
    client = APIClient()
    client.force_login(user)
    response = client.get("/api/v1/namespaces/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"crossteam" in response.content


def test_session_post_without_csrf_token_is_refused(make_user):
    """Session auth keeps CSRF protection for unsafe methods."""
    user = make_user("alice", {"crossteam": ["operator"]})
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/tasks/", START, format="json")
    assert response.status_code == 403
    assert_error_body(response)
