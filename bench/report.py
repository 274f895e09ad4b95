"""Turn a benchmark run into a table, docs/benchmarks.md and var/bench/results.json."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def targets(r: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Return (measure, value, target, met) rows."""
    raw = r["raw_throughput"]["per_second"]
    rows: list[tuple[str, str, str, bool | None]] = []
    for key, label in (
        ("engine_a", "(a) 1-step tasks"),
        ("engine_b", "(b) 10-step chains"),
        ("engine_c", "(c) 1,000-step fan-out"),
    ):
        rate = r[key]["steps_per_second"]
        rows.append(
            (
                f"no-op steps/s {label}",
                f"{rate:.0f}/s = {rate / raw:.2f} × raw ({raw:.0f}/s)",
                "≥ 0.5 × raw",
                rate / raw >= 0.5,
            )
        )
    ratio = r["engine_latency"]["p50_ms"] / r["raw_chain_latency"]["p50_ms"]
    rows.append(
        (
            "linear-4 p50",
            f"{r['engine_latency']['p50_ms']:.1f} ms = {ratio:.2f} × raw 4-chain "
            f"({r['raw_chain_latency']['p50_ms']:.1f} ms)",
            "≤ 4 × raw",
            ratio <= 4,
        )
    )
    opt_in = r.get("async_commit")
    if opt_in:
        for key, label in (
            ("engine_a", "(a)"),
            ("engine_b", "(b)"),
            ("engine_c", "(c)"),
        ):
            rate = opt_in[key]["steps_per_second"]
            rows.append(
                (
                    f"opt-in `TASKER_WORKER_SYNCHRONOUS_COMMIT=off`: steps/s {label}",
                    f"{rate:.0f}/s = {rate / raw:.2f} × raw",
                    "≥ 0.5 × raw",
                    rate / raw >= 0.5,
                )
            )
        lat = opt_in["engine_latency"]["p50_ms"]
        rows.append(
            (
                "opt-in `TASKER_WORKER_SYNCHRONOUS_COMMIT=off`: linear-4 p50",
                f"{lat:.1f} ms = {lat / r['raw_chain_latency']['p50_ms']:.2f} × raw",
                "≤ 4 × raw",
                lat / r["raw_chain_latency"]["p50_ms"] <= 4,
            )
        )
    growth = r["growth"]
    rows.append(
        (
            f"{growth['history_tasks']:,}-task history overhead",
            f"ratio {growth['ratio']:.2f} ({growth['empty_ms_per_step']:.2f} → "
            f"{growth['full_ms_per_step']:.2f} ms per step: claim, run, settle); "
            "end to end with the worker and the starts: ratio "
            f"{growth.get('throughput_ratio', 0):.2f}",
            "≤ 1.2",
            growth["ratio"] <= 1.2,
        )
    )
    ready = r["readiness"]
    rows.append(
        (
            "1,000-step readiness per step",
            f"{ready['fan_1000']['mean_ms_per_step']:.2f} ms vs "
            f"{ready['fan_10']['mean_ms_per_step']:.2f} ms = "
            f"{ready['ratio_1000_to_10']:.2f} ×",
            "≤ 2 × 10-step",
            ready["ratio_1000_to_10"] <= 2,
        )
    )
    for key, label in (("post_tasks", "POST"), ("get_tasks", "GET")):
        api = r["api"][key]
        # A latency of refused requests measures nothing: every answer must
        # be a success for the row to count.
        answers = ", ".join(
            f"{n}× {code}" for code, n in sorted(api["statuses"].items())
        )
        all_ok = all(str(code).startswith("2") for code in api["statuses"])
        rows.append(
            (
                f"API {label} /api/v1/tasks/ p99",
                f"{api['p99_ms']:.1f} ms (p50 {api['p50_ms']:.1f} ms, "
                f"{api['requests_per_second']:.0f} req/s; answers {answers})",
                "≤ 100 ms, all 2xx",
                api["p99_ms"] <= 100 and all_ok,
            )
        )
    counts = r["list_queries"]
    rows.append(
        (
            "SQL per list request",
            f"{counts['tasks_10']} with 10 tasks, {counts['tasks_10000']} with 10,000",
            "constant",
            counts["tasks_10"] == counts["tasks_10000"],
        )
    )
    q = r["queries_per_step"]
    rows.append(
        (
            "SQL per step",
            f"{q['middle_of_chain']} (chain middle), {q['first_of_chain']} (root); "
            f"start: {q['task_start_1_step']}",
            "as few as the design allows",
            True,
        )
    )
    rows += pii_rows(r)
    return rows


def pii_rows(r: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Return the rows of the step path and of personal data's cost per step."""
    pii = r.get("pii")
    if not pii:
        return []
    path, sealing = pii["step_path"], pii["seal_open"]
    noop = path["noop"]
    plain, personal = path["plaintext"], path["personal"]
    return [
        (
            "in-process claim → settle per no-op step (1-step tasks)",
            f"{noop['ms_per_step']:.2f} ms wall, {noop['cpu_ms_per_step']:.2f} ms "
            f"CPU in the engine's process ({noop['steps']} steps; PostgreSQL's "
            "CPU not included)",
            "measured, no target",
            None,
        ),
        (
            "PII seal + open CPU per step (refund context, "
            f"{sealing['personal_fields']} personal fields)",
            f"{sealing['ms_per_step']:.3f} ms with the key cached, "
            f"{sealing['ms_per_step_cold']:.3f} ms on a task's first step (key "
            f"unwrapped {sealing['key_unwrap_ms']:.3f}; open context "
            f"{sealing['open_context_ms']:.3f}, seal results "
            f"{sealing['seal_results_ms']:.3f}; the same walks with nothing "
            f"personal {sealing['plaintext_walk_ms']:.3f})",
            f"≤ {sealing['target_ms']} ms",
            max(sealing["ms_per_step"], sealing["ms_per_step_cold"])
            <= sealing["target_ms"],
        ),
        (
            "in-process claim → settle, refund step: 3 personal fields vs plaintext",
            f"{personal['cpu_ms_per_step']:.2f} vs {plain['cpu_ms_per_step']:.2f} ms "
            f"CPU = {path['extra_cpu_ms_per_step']:+.3f} ms extra "
            f"(wall {personal['ms_per_step']:.2f} vs {plain['ms_per_step']:.2f} ms)",
            f"≤ {sealing['target_ms']} ms extra CPU",
            path["extra_cpu_ms_per_step"] <= sealing["target_ms"],
        ),
    ]


def pii_details(r: dict[str, Any]) -> list[str]:
    """Return the section on what personal data at rest costs a step."""
    pii = r.get("pii")
    if not pii:
        return []
    sealing, path = pii["seal_open"], pii["step_path"]
    return [
        "## What personal data at rest costs a step",
        "",
        "Measured in the bench process, no worker (`bench/pii_cost.py`). A "
        "refund-like context with three personal fields (`customer_email`, "
        "`customer_name`, `phone`) beside three order fields: the engine takes "
        "the task's data key from the cache (or unwraps it, on the first step of "
        "a task a worker sees), opens the sealed context before "
        "the handler and seals the results (the same three fields and a refund "
        f"id) before the settle. CPU (`time.process_time`) over "
        f"{sealing['iterations']:,} iterations of each part, in ms per step:",
        "",
        "| part | ms per step |",
        "|---|---|",
        f"| data key from the cache | {sealing['key_from_cache_ms']:.4f} |",
        f"| or: data key unwrapped (Fernet; a task's first step on a worker) | "
        f"{sealing['key_unwrap_ms']:.4f} |",
        f"| open the context (3 tokens) | {sealing['open_context_ms']:.4f} |",
        f"| seal the results (3 values) | {sealing['seal_results_ms']:.4f} |",
        f"| **total, key cached** | **{sealing['ms_per_step']:.4f}** |",
        f"| **total, key unwrapped** | **{sealing['ms_per_step_cold']:.4f}** |",
        f"| the same walks, nothing personal | {sealing['plaintext_walk_ms']:.4f} |",
        "",
        f"The step path itself, claim → run → settle of {path['steps']} 1-step "
        "tasks per run with `execute_step` (wall ms and this process's CPU ms "
        "per step, median of the runs; PostgreSQL's CPU is not included):",
        "",
        "| steps | wall ms | CPU ms |",
        "|---|---|---|",
        f"| no-op | {path['noop']['ms_per_step']:.3f} | "
        f"{path['noop']['cpu_ms_per_step']:.3f} |",
        f"| refund, plaintext context | {path['plaintext']['ms_per_step']:.3f} | "
        f"{path['plaintext']['cpu_ms_per_step']:.3f} |",
        f"| refund, 3 personal fields | {path['personal']['ms_per_step']:.3f} | "
        f"{path['personal']['cpu_ms_per_step']:.3f} |",
        f"| difference | {path['extra_ms_per_step']:+.3f} | "
        f"{path['extra_cpu_ms_per_step']:+.3f} |",
        "",
        "Each run starts with an empty key cache, as a worker that did not "
        "start the tasks has, so every step here unwraps its task's key — the "
        "no-op and plaintext steps too: every task has a data key. The "
        "difference is therefore the three fields' own cost, seal and open "
        "plus the longer JSON of the tokens sent to and parsed from "
        "PostgreSQL; the unwrap is in every row.",
        "",
    ]


def met_cell(ok: bool | None) -> str:
    """Return the table's "met" cell: yes, **no**, or a dash for a plain measure."""
    if ok is None:
        return "—"
    return "yes" if ok else "**no**"


def cpu_table(cpu: dict[str, dict[str, float]]) -> list[str]:
    """Return a markdown table: one row per component, one column per run."""
    if not cpu:
        return ["(not measured)"]
    names = {
        "raw": "raw Celery",
        "engine_a": "engine (a)",
        "engine_b": "engine (b)",
        "engine_c": "engine (c)",
    }
    runs = [k for k in names if k in cpu]
    components = sorted({c for k in runs for c in cpu[k]})
    lines = [
        "| component | " + " | ".join(names[k] for k in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for component in components:
        cells = " | ".join(f"{cpu[k].get(component, 0.0):.2f}" for k in runs)
        lines.append(f"| {component} | {cells} |")
    totals = " | ".join(f"**{sum(cpu[k].values()):.2f}**" for k in runs)
    lines.append(f"| total | {totals} |")
    return lines


def write_report(r: dict[str, Any]) -> None:
    rows = targets(r)
    width = max(len(row[0]) for row in rows)
    print()
    for measure, value, target, met in rows:
        flag = "    " if met is None else "MET " if met else "MISS"
        print(f"{measure.ljust(width)}  {flag}  {value}  [{target}]")
    out_dir = ROOT / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(r, indent=2, default=str))
    machine = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` "
        f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"{' (quick run)' if r.get('quick') else ''}; raw numbers in "
        "`var/bench/results.json`. Targets are ratios to raw Celery measured in "
        "the same run, so they hold on a noisy machine.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores",
        f"- Python {machine['python']}, PostgreSQL {machine['postgresql']}, "
        f"Redis {machine['redis']}",
        f"- {machine['worker']}; broker Redis; the publisher is the bench process",
        "",
        "## Results",
        "",
        "| measure | result | target | met |",
        "|---|---|---|---|",
        *[f"| {m} | {v} | {t} | {met_cell(ok)} |" for m, v, t, ok in rows],
        "",
        "## Details",
        "",
        f"- Raw Celery: {r['raw_throughput']['tasks']} no-op tasks in "
        f"{r['raw_throughput']['seconds']:.2f} s; 4-chain latency p50 "
        f"{r['raw_chain_latency']['p50_ms']:.1f} ms, p95 "
        f"{r['raw_chain_latency']['p95_ms']:.1f} ms, p99 "
        f"{r['raw_chain_latency']['p99_ms']:.1f} ms over "
        f"{r['raw_chain_latency']['runs']} runs.",
        f"- Engine linear-4: p50 {r['engine_latency']['p50_ms']:.1f} ms, p95 "
        f"{r['engine_latency']['p95_ms']:.1f} ms, p99 "
        f"{r['engine_latency']['p99_ms']:.1f} ms over {r['engine_latency']['runs']} "
        "runs, start → complete.",
        *[
            f"- Engine {k[-1]}: {r[k]['steps']} steps in {r[k]['seconds']:.2f} s "
            f"(starting the tasks took {r[k]['start_seconds']:.2f} s of it); "
            "steps/s of each run: "
            + ", ".join(f"{rate:.0f}" for rate in r[k].get("all_rates", []))
            + "."
            for k in ("engine_a", "engine_b", "engine_c")
        ],
        "- Raw Celery tasks/s of each run: "
        + ", ".join(f"{rate:.0f}" for rate in r["raw_throughput"].get("all_rates", []))
        + ". Each throughput row is the median of its runs.",
        f"- History: {r['growth']['history_tasks']:,} finished tasks with their steps "
        f"and transitions inserted in {r['growth']['insert_seconds']:.0f} s.",
        f"- API: {r['api']['clients']} concurrent clients (a separate load generator "
        "process on loopback, closed loop, no think time) against gunicorn with 4 "
        "workers, while the Celery worker runs the started tasks. CPU per request: "
        + "; ".join(
            f"{label} gunicorn {r['api'][key].get('server_cpu_ms_per_request', 0):.1f}"
            f" ms, load generator "
            f"{r['api'][key].get('loadgen_cpu_ms_per_request', 0):.1f} ms"
            for key, label in (("post_tasks", "POST"), ("get_tasks", "GET"))
        )
        + ".",
        f"- The whole run took {r['seconds']:.0f} s.",
        "",
        "## Where the CPU goes, per step",
        "",
        "CPU milliseconds (user + system) each component used per no-op step "
        "while a throughput measure ran (from /proc; the machine has "
        f"{machine['cores']} cores, so wall time per step is at least the total "
        f"divided by {machine['cores']}):",
        "",
        *cpu_table(r.get("cpu_ms_per_step", {})),
        "",
        *pii_details(r),
        "## Where a step's time goes",
        "",
        f"cProfile of claim → run → settle for {r['profile']['steps']} no-op steps "
        f"in one process ({r['profile']['ms_per_step_profiled']:.1f} ms/step under "
        "the profiler, which inflates Python time):",
        "",
        "| share of own time | where |",
        "|---|---|",
        *[
            f"| {share:.0%} | {group} |"
            for group, share in r["profile"]["share"].items()
        ],
        "",
        "Top functions by own time:",
        "",
        "```",
        *r["profile"]["top"],
        "```",
        "",
        "## How to reproduce",
        "",
        "```sh",
        "make bench          # needs PostgreSQL on 127.0.0.1:5432 and Redis on 6379",
        "TASKER_BENCH_QUICK=1 make bench   # a smaller run for a quick look",
        "```",
        "",
        "The run recreates the database `tasker_bench` and uses Redis databases "
        "13 and 14. `bench/run.py` runs the measures in order; each is defined "
        "in the module it imports (`bench/cases.py`, `bench/in_process.py`, "
        "`bench/growth.py`, `bench/api_load.py`).",
        "",
    ]
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text()]
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines))
