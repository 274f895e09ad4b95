"""No-op step handlers for benchmarks: the engine's own cost, nothing else."""

from __future__ import annotations

from typing import Any

from workflows.handlers import StepContext, StepHandler


class Noop(StepHandler):
    """Do nothing and say so."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        return {}
