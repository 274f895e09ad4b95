"""The API under load (gunicorn and the load generator) and its SQL per page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.config import ROOT
from bench.measure import summarize
from bench.processes import load


def api_latency(clients: int, per_client: int) -> dict[str, Any]:
    """p50/p99 of POST and GET /api/v1/tasks/ under ``clients`` concurrent clients."""
    import socket

    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from namespaces.models import Namespace
    from namespaces.services import membership_grant, team_roles_ensure
    from tasker_project.core.actors import Actor

    user, _ = get_user_model().objects.get_or_create(username="bench-api")
    namespace = Namespace.objects.get(slug="bench")
    team_roles_ensure(namespace=namespace)
    membership_grant(
        namespace=namespace,
        user=user,
        role="operator",
        actor=Actor.system_actor("bench"),
    )
    token = str(AccessToken.for_user(user))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "tasker_project.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "4",
            "--access-logfile",
            "-",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        # Production-like: under gunicorn the settings refuse to start without
        # a real key; the throttles count in Redis, shared by the 4 workers.
        env={
            **os.environ,
            "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TASKER_CACHE_URL": os.environ.get(
                "TASKER_BENCH_CACHE", "redis://127.0.0.1:6379/12"
            ),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def server_cpu_seconds() -> float:
        """Return the CPU seconds of gunicorn's processes (its own session)."""
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == server.pid:  # the session gunicorn leads
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    try:
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/schema/", timeout=1
                )
                break
            except Exception:
                time.sleep(0.2)
        results: dict[str, Any] = {
            "clients": clients,
            "requests_per_client": per_client,
        }
        body = json.dumps(
            {
                "namespace": "bench",
                "workflow": "noop_1",
                "context": {},
                "reason": "api-{n}",
            }
        )
        for name, method, url, payload in (
            ("post_tasks", "POST", f"http://127.0.0.1:{port}/api/v1/tasks/", body),
            (
                "get_tasks",
                "GET",
                f"http://127.0.0.1:{port}/api/v1/tasks/?namespace=bench",
                None,
            ),
        ):
            # A short warm-up so every gunicorn worker has loaded the app.
            load(url, method, payload, token, clients, 3)
            server_began = server_cpu_seconds()
            out = load(url, method, payload, token, clients, per_client)
            server_seconds = server_cpu_seconds() - server_began
            statuses = out["statuses"]
            latencies = out["latencies_ms"]
            results[name] = {
                **summarize(latencies),
                "requests_per_second": len(latencies) / out["seconds"],
                "statuses": statuses,
                # CPU per request of gunicorn (master and workers) and of the
                # load generator: what a request costs, however noisy the box.
                "server_cpu_ms_per_request": server_seconds / len(latencies) * 1e3,
                "loadgen_cpu_ms_per_request": out["cpu_seconds"] / len(latencies) * 1e3,
            }
        return results
    finally:
        import signal

        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def list_query_counts() -> dict[str, int]:
    """SQL queries of one GET /api/v1/tasks/ page, with 10 and 10,000 tasks visible."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from namespaces.models import Namespace
    from namespaces.services import membership_grant, team_roles_ensure
    from tasker_project.core.actors import Actor

    actor = Actor.system_actor("bench")
    counts = {}
    for size in (10, 10_000):
        namespace, _ = Namespace.objects.get_or_create(
            slug=f"bench_list_{size}", defaults={"name": f"list {size}"}
        )
        team_roles_ensure(namespace=namespace)
        from django.db import connection as conn

        from workflows.models import WorkflowDefinition

        definition = WorkflowDefinition.objects.get(
            namespace__slug="bench", name="noop_1"
        )
        with conn.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO workflows_task (id, namespace_id, definition_id, status, context,
                    initiator_label, source_system, reason, tags, correlation_id,
                    request_hash, created_at, updated_at)
                SELECT gen_random_uuid(), %s, %s, 'complete', '{}', 'bench', '', 'list',
                    '[]', md5(i::text), '', now(), now()
                FROM generate_series(1, %s) AS i
                """,
                [namespace.pk, definition.pk, size],
            )
        user, _ = get_user_model().objects.get_or_create(username=f"bench-list-{size}")
        membership_grant(namespace=namespace, user=user, role="viewer", actor=actor)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/api/v1/tasks/", HTTP_ACCEPT="application/json")
        if response.status_code != 200:
            raise RuntimeError(f"list request failed: {response.content[:500]!r}")
        counts[f"tasks_{size}"] = len(captured.captured_queries)
    return counts
