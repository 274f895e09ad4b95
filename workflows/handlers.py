"""The public step-handler API.

A step handler is a class with ``process(ctx) -> dict`` and no instance
state: the engine may run any attempt of any step on any worker, so all a
handler knows comes from its :class:`StepContext`. Raise
:class:`RetryableError` for a transient fault (the engine retries with
backoff while attempts remain) and :class:`PermanentError` for a fault no
retry can fix. Any other exception counts as retryable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class StepError(Exception):
    """Base of the errors a handler raises on purpose."""

    code: str = "step_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class RetryableError(StepError):
    """A transient fault: retry after ``retry_after`` seconds, or by backoff."""

    code = "retryable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must not be negative")
        self.retry_after = retry_after


class PermanentError(StepError):
    """A fault no retry can fix: the step fails at once."""

    code = "permanent"


@dataclass(frozen=True)
class StepContext:
    """Everything a handler may know about the attempt it runs.

    ``idempotency_key`` is stable across every attempt of one step of one
    task: pass it to any external system that changes state, so a retried
    refund never refunds twice.
    """

    task_id: str
    step_id: str
    step_name: str
    namespace: str
    workflow: str
    version: str
    context: Mapping[str, Any]
    dependency_results: Mapping[str, Any]
    handler_config: Mapping[str, Any]
    attempt: int
    max_attempts: int
    idempotency_key: str
    correlation_id: str
    extras: Mapping[str, Any] = field(default_factory=dict)

    def result_of(self, step_name: str) -> Any:
        """Return the results of dependency ``step_name``.

        Raise :class:`PermanentError` when the step is not a dependency, a
        definition bug no retry can fix.
        """
        try:
            return self.dependency_results[step_name]
        except KeyError:
            raise PermanentError(
                f"step '{self.step_name}' read results of '{step_name}', "
                "which is not one of its dependencies",
                code="not_a_dependency",
            ) from None


class StepHandler:
    """Base class for step handlers; subclasses implement :meth:`process`."""

    def process(
        self, ctx: StepContext
    ) -> dict[str, Any] | AwaitApproval | StartSubtask:
        """Do the step's work and return its JSON-serialisable results.

        An approval step returns :class:`AwaitApproval`; a subworkflow step
        returns :class:`StartSubtask`.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class AwaitApproval:
    """Returned by an ``approval`` step's handler: a person must decide.

    The step waits in ``waiting_for_approval`` (no polling, no retries) until
    an approver of the namespace who did not start the task approves or
    rejects it. ``details`` is shown to the approver. To approve without a
    person (e.g. below a threshold), return a plain results dict instead.
    """

    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StartSubtask:
    """Returned by a ``subworkflow`` step's handler: run another workflow.

    The engine starts ``namespace.workflow`` (the default version unless
    ``version``) with ``context`` as a child task, allowed only by an
    explicit cross-namespace grant, and the step waits in
    ``waiting_for_subtask`` until the child ends. The child's outcome
    completes or fails the step; the step's results carry the child task id,
    its workflow and status, and ``outputs``: names mapped to
    ``"<child step>.<result key>"`` paths copied from the child's results.
    Nothing else of the child crosses into the calling team's namespace.
    """

    namespace: str
    workflow: str
    context: Mapping[str, Any]
    version: str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
