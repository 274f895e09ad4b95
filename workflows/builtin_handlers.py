"""Handlers the engine ships for steps that need no code of their own."""

from __future__ import annotations

from workflows.handlers import AwaitApproval, StepContext, StepHandler


class RequireApproval(StepHandler):
    """Always ask a person: the default handler of an ``approval`` step.

    ``handler_config.reason`` is shown to the approver; the task context's
    ``reason`` field, when present, is added to the details.
    """

    def process(self, ctx: StepContext) -> AwaitApproval:
        details = {"workflow": f"{ctx.namespace}.{ctx.workflow}@{ctx.version}"}
        if "reason" in ctx.context:
            details["task_reason"] = ctx.context["reason"]
        return AwaitApproval(
            reason=ctx.handler_config.get("reason", f"approve step '{ctx.step_name}'"),
            details=details,
        )
