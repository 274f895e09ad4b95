"""`make run` brings up web, worker and beat on the embedded default, and Ctrl-C
stops all three. Runs in a private var/ directory with no DATABASE_URL or
CELERY_BROKER_URL, whatever the suite itself runs against."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status
    except OSError:
        return None


@pytest.mark.worker
def test_make_run_serves_admin_runs_a_workflow_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        TASKER_VAR_DIR=str(tmp_path / "var"),
        TASKER_PORT=str(port),
        TASKER_QUEUE=f"make-run-{port}",
    )
    log = (tmp_path / "make-run.log").open("w")
    proc = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    manage = [sys.executable, "manage.py"]
    try:
        wait_for(
            lambda: _http_status(f"http://127.0.0.1:{port}/admin/login/") == 200,
            timeout=180,
            what="the admin login page",
        )
        output = (tmp_path / "make-run.log").read_text()
        assert "tasker-demo" in output, "make run prints the demo logins"
        started = subprocess.run(
            [*manage, "start_task", "ecommerce", "process_order", "--example"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        task_id = started.stdout.strip()

        def status() -> dict | None:
            out = subprocess.run(
                [*manage, "task_status", task_id, "--json"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            body = json.loads(out)
            return body if body["status"] in {"complete", "failed"} else None

        body = wait_for(status, timeout=60, what="the task to finish")
        assert body["status"] == "complete", body
        assert [s["status"] for s in body["steps"]] == ["complete"] * 5
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        log.close()
    # Nothing of the three processes is left in the group.
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
