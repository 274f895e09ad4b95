"""The benchmark's configuration: where it runs, and the environment it sets.

Importing this module sets the environment variables every later import
(Django's settings, the Celery worker, gunicorn) reads, so every bench
module imports it before Django is set up.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("TASKER_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("TASKER_BENCH_DB", "tasker_bench")
BROKER = os.environ.get("TASKER_BENCH_BROKER", "redis://127.0.0.1:6379/14")
QUEUE = "bench"
QUICK = os.environ.get("TASKER_BENCH_QUICK") == "1"

os.environ.update(
    DATABASE_URL=f"{PG}/{DB_NAME}",
    CELERY_BROKER_URL=BROKER,
    TASKER_QUEUE=QUEUE,
    TASKER_WORKFLOW_PATHS=str(ROOT / "bench" / "workflows"),
    DJANGO_SETTINGS_MODULE="tasker_project.settings.base",
    LOG_LEVEL="WARNING",
    TASKER_THROTTLE_USER="1000000/min",
    TASKER_THROTTLE_AUTH="1000000/min",
    # Production mode: DEBUG off (no per-query logging), a throwaway key.
    DJANGO_DEBUG="0",
    DJANGO_SECRET_KEY="bench-only-throwaway-key-" + uuid.uuid4().hex,
    TASKER_AUDIT_KEY=uuid.uuid4().hex + uuid.uuid4().hex,
    # Throwaway PII keys (a Fernet master key, a blind-index key): production
    # mode requires them, and every task's context is sealed under them.
    TASKER_PII_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    TASKER_PII_INDEX_KEY=secrets.token_hex(32),
    DJANGO_SSL_REDIRECT="0",
    DJANGO_SECURE_COOKIES="0",
)
os.environ.setdefault("TASKER_BENCH_REDIS", "redis://127.0.0.1:6379/13")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)
