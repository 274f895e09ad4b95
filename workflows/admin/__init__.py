"""Django admin for workflows: definitions and their DAG, tasks, steps, history.

Staff operate Tasker from here. Nothing edits a run by hand: task and step
pages are read-only, and every change (start, cancel, retry, resolve) goes
through the same services the API and CLI call, as ``Actor.of(request.user)``.
"""

from workflows.admin import definitions, history, steps, tasks

__all__ = ["definitions", "history", "steps", "tasks"]
