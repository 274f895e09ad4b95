"""The processes the bench starts: the Celery worker and the load generator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

from bench.config import QUEUE, ROOT


class Worker:
    """The Celery worker both the baseline and the engine run on."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / "var" / "bench" / "worker.log"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tasker_project",
                "worker",
                "-Q",
                f"{QUEUE}-sweep,{QUEUE}",  # as in production: sweeps first
                "-c",
                "2",
                "-P",
                "prefork",
                "-I",
                "bench.baseline_tasks",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"bench-{uuid.uuid4().hex[:6]}@%h",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        time.sleep(4)  # let both pool processes boot before anything is timed
        if self.proc.poll() is not None:
            raise RuntimeError(self.log_path.read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            import signal

            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def load(
    url: str, method: str, body: str | None, token: str, clients: int, per: int
) -> dict:
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "loadgen.py"),
        url,
        "--method",
        method,
        "--token",
        token,
        "--clients",
        str(clients),
        "--requests",
        str(per),
    ]
    if body is not None:
        cmd += ["--body", body]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout)
