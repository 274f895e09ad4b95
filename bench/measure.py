"""How figures are taken: percentiles, median of repeats, CPU by component."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from bench.config import QUICK


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize(latencies_ms: list[float]) -> dict[str, float]:
    return {
        "runs": len(latencies_ms),
        "p50_ms": percentile(latencies_ms, 50),
        "p95_ms": percentile(latencies_ms, 95),
        "p99_ms": percentile(latencies_ms, 99),
        "mean_ms": statistics.fmean(latencies_ms),
    }


def cpu_seconds_by_component() -> dict[tuple[str, str], float]:
    """Return each process's CPU seconds (user + system), tagged by component."""
    tick = os.sysconf("SC_CLK_TCK")
    me = str(os.getpid())
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        text = cmd.decode(errors="replace")
        if entry == me:
            component = "publisher (this process)"
        elif "celery" in text and "worker" in text:
            component = "Celery worker"
        elif text.startswith("postgres"):
            component = "PostgreSQL"
        elif "redis-server" in text:
            component = "Redis"
        else:
            continue
        out[(entry, component)] = (int(fields[11]) + int(fields[12])) / tick
    return out


REPEATS = 1 if QUICK else 3


def median_run(fn: Any, *args: Any) -> dict[str, Any]:
    """Run a throughput measure ``REPEATS`` times; return the median run.

    Two shared cores make single runs swing by a fifth either way; the median
    of three, for the baseline and the engine alike, keeps the ratios steady.
    """
    runs = [fn(*args) for _ in range(REPEATS)]
    rate = "per_second" if "per_second" in runs[0] else "steps_per_second"
    runs.sort(key=lambda run: run[rate])
    return {**runs[len(runs) // 2], "all_rates": [run[rate] for run in runs]}


def with_cpu(
    out: dict[str, Any], key: str, steps: int, fn: Any, *args: Any
) -> dict[str, Any]:
    """Run ``median_run(fn, *args)``; record CPU ms per step by component in ``out``."""
    before = cpu_seconds_by_component()
    result = median_run(fn, *args)
    after = cpu_seconds_by_component()
    per: dict[str, float] = {}
    for (pid, component), seconds in after.items():
        used = seconds - before.get((pid, component), 0.0)
        per[component] = per.get(component, 0.0) + used * 1000 / (steps * REPEATS)
    out.setdefault("cpu_ms_per_step", {})[key] = per
    return result
