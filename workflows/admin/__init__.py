"""Django admin for workflows: definitions and their DAG, tasks, steps, history.

Staff operate Tasker from here. Nothing edits a run by hand: task and step
pages are read-only, and every change (start, cancel, retry, resolve,
approve, reject) goes through the same services the API and CLI call, as
``Actor.of(request.user)``; they check the user's team role again and audit
a refusal. Staff who are not superusers see only the namespaces where they
hold a role (:class:`~tasker_project.admin_kit.scoped.ScopedAdminMixin`), and only
the buttons their roles allow.
"""

from workflows.admin import approvals, definitions, history, steps, tasks

__all__ = ["approvals", "definitions", "history", "steps", "tasks"]
