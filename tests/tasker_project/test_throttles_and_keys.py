"""Throttles key on the real client address in a shared cache; no published key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings
from rest_framework import throttling as drf_throttling
from rest_framework.test import APIClient

from tests import worker as worker_process
from workflows.api.views import TokenObtainView

ROOT = Path(__file__).resolve().parent.parent.parent
PUBLISHED_KEY = "dev-only-insecure-key-set-DJANGO_SECRET_KEY-in-production"
PASSWORD = "correct-horse-battery"  # noqa: S105 - a test user's password
LOGIN = "/api/v1/auth/token/"

# Three failed logins from this process's address in another process.
OTHER_PROCESS = """
import json, sys, django
django.setup()
from django.test import Client
client = Client(SERVER_NAME="localhost", REMOTE_ADDR=sys.argv[1])
print(json.dumps([
    client.post(
        "/api/v1/auth/token/",
        {"username": "nobody", "password": "guess"},
        content_type="application/json",
        HTTP_X_FORWARDED_FOR=f"6.6.6.{i}",
    ).status_code
    for i in range(3)
]))
"""


def _redis_url() -> str | None:
    """Return the suite's Redis server when it runs against one, else None."""
    broker = os.environ.get("CELERY_BROKER_URL", "")
    return broker if broker.startswith("redis://") else None


# The database cache always; Redis too when the suite runs on PostgreSQL + Redis.
CACHE_BACKENDS = ["database", *(["redis"] if _redis_url() else [])]


@pytest.fixture
def auth_rate(monkeypatch):
    """Three password logins a minute (DRF reads its rates once, at import)."""
    rates = {"user": "100000/min", "anon": "100000/min", "auth": "3/min"}
    monkeypatch.setattr(drf_throttling.SimpleRateThrottle, "THROTTLE_RATES", rates)


def address() -> str:
    """Return a client address no other test has used, so buckets start empty."""
    return "10." + ".".join(str(byte) for byte in uuid.uuid4().bytes[:3])


def login(client: APIClient, forwarded: str) -> int:
    response = client.post(
        LOGIN,
        {"username": "alice", "password": "guess"},
        format="json",
        HTTP_X_FORWARDED_FOR=forwarded,
    )
    return response.status_code


def test_the_login_view_throttles_on_the_client_address():
    from tasker_project.throttling import ScopedRateThrottle

    assert TokenObtainView.throttle_classes == [ScopedRateThrottle]


@pytest.mark.django_db
def test_rotating_x_forwarded_for_does_not_defeat_the_login_throttle(
    auth_rate, settings
):
    """Without trusted proxies the header is ignored: one peer, one bucket."""
    settings.TASKER_TRUSTED_PROXIES = 0
    get_user_model().objects.create_user("alice", password=PASSWORD)
    client = APIClient(REMOTE_ADDR=address())
    assert [login(client, f"6.6.6.{i}") for i in range(3)] == [401] * 3
    assert login(client, "6.6.6.99") == 429


@pytest.mark.django_db
def test_a_trusted_proxy_count_throttles_the_forwarded_client(auth_rate, settings):
    """Behind one proxy each forwarded client has its own bucket, unforgeably."""
    settings.TASKER_TRUSTED_PROXIES = 1
    get_user_model().objects.create_user("alice", password=PASSWORD)
    client = APIClient(REMOTE_ADDR=address())
    client_address = address()
    assert [login(client, f"6.6.6.{i}") for i in range(5)] == [401] * 5
    assert [login(client, client_address) for _ in range(3)] == [401] * 3
    assert login(client, client_address) == 429
    # The client cannot prepend its way out: the proxy's entry is the last.
    assert login(client, f"1.1.1.1, {client_address}") == 429


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", CACHE_BACKENDS)
def test_a_login_limit_holds_across_processes(auth_rate, settings, backend):
    """Logins counted by another process (a second gunicorn worker) count here."""
    settings.TASKER_TRUSTED_PROXIES = 0
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tasker_project.settings.test",
        "DATABASE_URL": worker_process.test_database_url(),
        "TASKER_THROTTLE_AUTH": "3/min",
        "TASKER_TRUSTED_PROXIES": "",
        "PYTHONPATH": str(ROOT),
    }
    caches = None
    if backend == "redis":
        env["TASKER_CACHE_URL"] = _redis_url()
        caches = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": _redis_url(),
            }
        }
    peer = address()
    with override_settings(**({"CACHES": caches} if caches else {})):
        other = subprocess.run(
            [sys.executable, "-c", OTHER_PROCESS, peer],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 0, other.stderr
        assert json.loads(other.stdout.strip().splitlines()[-1]) == [401] * 3
        assert login(APIClient(REMOTE_ADDR=peer), "6.6.6.99") == 429
        cache.delete(f"throttle_auth_{peer}")


def mint(key: str, user_id: int) -> str:
    now = int(time.time())
    payload = {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": str(user_id),
    }
    return jwt.encode(payload, key, algorithm="HS256")


@pytest.mark.django_db
def test_a_token_signed_with_the_published_key_is_refused(settings):
    """The key once printed in the repository signs nothing that authenticates."""
    admin = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint(PUBLISHED_KEY, admin.pk)}")
    assert client.get("/api/v1/namespaces/").status_code == 401
    # The same token signed with the running key is accepted: the key is refused.
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {mint(settings.SECRET_KEY, admin.pk)}"
    )
    assert client.get("/api/v1/namespaces/").status_code == 200
