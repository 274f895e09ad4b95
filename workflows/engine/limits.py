"""A step's own time limits, enforced inside a prefork worker process.

Each handler call gets a soft limit at its step's timeout — a
``SoftTimeLimitExceeded`` raised in the handler (a retryable ``timeout``
error) — and a hard limit a grace period later: a handler that swallows the
soft limit, or is stuck in C code, has its process ended by a watchdog
thread, exactly when the step's lease expires; the pool starts a new
process and the sweeper recovers the step. Celery's own limits are per
message; these are per step, which lets one message run several steps of a
chain (see ``executor.execute_steps``). Celery's limits stay on every
message as a backstop, set above these.

Only worker processes turn this on (``enable``, from ``worker_process_init``):
in any other process ``step_time_limit`` does nothing, so tests and
management commands that run the executor in-process keep their signals.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from celery.exceptions import SoftTimeLimitExceeded

logger = logging.getLogger(__name__)

# Exit status of a worker process ended by the hard limit.
HARD_LIMIT_EXIT = 70


class _Watchdog:
    """End this process if an armed deadline passes before it is disarmed.

    Arming and disarming are one attribute write each (no lock, no wake-up
    of the thread: they happen twice per step); the thread looks every
    ``POLL_SECONDS``, so a process ends at most that late.
    """

    POLL_SECONDS = 0.25

    def __init__(self) -> None:
        self._armed: tuple[float, str] | None = None
        thread = threading.Thread(target=self._run, name="tasker-watchdog", daemon=True)
        thread.start()

    def arm(self, seconds: float, label: str) -> None:
        self._armed = (time.monotonic() + seconds, label)

    def disarm(self) -> None:
        self._armed = None

    def _run(self) -> None:
        while True:
            time.sleep(self.POLL_SECONDS)
            armed = self._armed
            if armed is None or time.monotonic() < armed[0]:
                continue
            # No logging module: the stuck thread may hold a handler's lock.
            message = (
                f"CRITICAL {armed[1]} ignored its timeout; "
                f"ending worker process {os.getpid()}\n"
            )
            with contextlib.suppress(OSError):
                os.write(2, message.encode(errors="replace"))
            os._exit(HARD_LIMIT_EXIT)


_watchdog: _Watchdog | None = None


def enable() -> None:
    """Enforce step time limits in this process (a prefork worker child)."""
    global _watchdog
    if _watchdog is None and hasattr(signal, "setitimer"):
        _watchdog = _Watchdog()


def enabled() -> bool:
    """Return whether this process enforces step time limits itself."""
    return _watchdog is not None


def _raise_soft_limit(signum: int, frame: object) -> None:
    raise SoftTimeLimitExceeded("step exceeded its timeout")


@contextmanager
def step_time_limit(
    timeout_seconds: float, grace_seconds: float, label: str, since: float
) -> Iterator[None]:
    """Run the block under the step's soft and hard limits (when enabled).

    ``since`` is the monotonic time taken just before the claim, so both
    limits count from no later than the lease does: the soft limit at the
    step's timeout, the hard limit a poll interval before the lease expires.
    """
    watchdog = _watchdog
    if watchdog is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    # Installed here, not once at start: billiard's pool replaces the SIGALRM
    # handler after worker_process_init when it protects its signals (the
    # threaded pool used with brokers without asynchronous I/O).
    if signal.getsignal(signal.SIGALRM) is not _raise_soft_limit:
        signal.signal(signal.SIGALRM, _raise_soft_limit)
    elapsed = time.monotonic() - since
    watchdog.arm(
        max(timeout_seconds + grace_seconds - elapsed - _Watchdog.POLL_SECONDS, 0.0),
        label,
    )
    signal.setitimer(signal.ITIMER_REAL, max(timeout_seconds - elapsed, 0.001))
    try:
        yield
    finally:
        _disarm(watchdog)


def _disarm(watchdog: _Watchdog) -> None:
    """Stop both limits, even if the soft limit fires while doing so."""
    while True:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
            watchdog.disarm()
            return
        except SoftTimeLimitExceeded:
            continue
