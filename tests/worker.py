"""Start and stop real Celery worker subprocesses against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """Return a DATABASE_URL for the database pytest-django created."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    """One ``celery worker`` process group: its sweep queue first, then its queue.

    Both queue names are private to the worker (``<queue>-sweep`` is set as
    the worker's ``TASKER_SWEEP_QUEUE``, whatever the environment says), so
    a worker started with ``beat=True`` sweeps through its own sweep queue
    and tests stay independent when they run in parallel.
    """

    def __init__(
        self, *, queue: str, beat: bool = False, concurrency: int = 2, **env: str
    ) -> None:
        self.queue = queue
        self.sweep_queue = env.get("TASKER_SWEEP_QUEUE", f"{queue}-sweep")
        self.beat = beat
        self.name = f"w{uuid.uuid4().hex[:8]}"
        log_dir = Path(settings.VAR_DIR) / "worker-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.name}.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tasker_project.settings.test",
            "DATABASE_URL": test_database_url(),
            "TASKER_QUEUE": queue,
            "TASKER_SWEEP_QUEUE": self.sweep_queue,
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> WorkerProcess:
        """Start the worker and wait until it consumes its queue."""
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasker_project",
            "worker",
            "-Q",
            # The sweep queue first, as in production (docs/operations.md).
            f"{self.sweep_queue},{self.queue}",
            "-n",
            f"{self.name}@%h",
            "-P",
            "prefork",
            "-c",
            str(self.concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ]
        if self.beat:
            schedule = Path(settings.VAR_DIR) / f"beat-{self.name}"
            cmd += ["-B", "-s", str(schedule)]
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if " ready." in self.log():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """Return what the worker wrote so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: a worker machine dying mid-step."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the worker gracefully, or kill it after ten seconds."""
        if not self.proc or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
