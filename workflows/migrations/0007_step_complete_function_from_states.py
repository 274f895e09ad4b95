"""PostgreSQL: install ``tasker_step_complete`` as generated from states.py.

The function is the same as migration 0005's (the same statements, rows and
results); its text is now rendered by ``workflows.engine.settle_function``
from the state machine's values instead of written by hand. The values are
frozen below, as a migration freezes a model's fields, so this migration
installs the same function whenever it runs; ``SETTLE_FUNCTION_FINGERPRINT``
is the SHA-256 of that text when this migration was written. A later change
of states.py, a table, a reason or the function's text needs a new migration
like this one (``tests/workflows/engine/test_settle_function.py`` says so).

Reversing reinstalls migration 0005's text. SQLite has no such function.
"""

import importlib

from django.db import migrations

from workflows.engine import settle_function

SETTLE_FUNCTION_VALUES = {
    "task_table": "workflows_task",
    "step_table": "workflows_step",
    "edge_table": "workflows_stepedge",
    "template_table": "workflows_steptemplate",
    "step_transition_table": "workflows_steptransition",
    "task_transition_table": "workflows_tasktransition",
    "step_pending": "pending",
    "step_enqueued": "enqueued",
    "step_in_progress": "in_progress",
    "step_complete": "complete",
    "step_failed": "failed",
    "step_active": (
        "enqueued",
        "in_progress",
        "waiting_for_retry",
        "waiting_for_approval",
        "waiting_for_subtask",
    ),
    "step_satisfied": ("complete", "resolved_manually"),
    "task_in_progress": "in_progress",
    "task_complete": "complete",
    "task_failed": "failed",
    "reason_step_complete": "handler succeeded",
    "reason_child_enqueued": "dependencies satisfied",
    "reason_task_complete": "every step satisfied",
    "reason_task_failed": "{failed} step(s) failed",
}
SETTLE_FUNCTION_FINGERPRINT = (
    "48bd7d6101a70848aaf898904f8bab4f495533d2fce0659dc80623a3dbe9dd13"
)


def install_generated(apps, schema_editor):
    settle_function.install(
        schema_editor, settle_function.SettleValues(**SETTLE_FUNCTION_VALUES)
    )


def reinstall_0005(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        previous = importlib.import_module(
            "workflows.migrations.0005_step_complete_function"
        )
        schema_editor.execute(previous.FUNCTION)


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0006_task_list_index"),
    ]

    operations = [migrations.RunPython(install_generated, reinstall_0005)]
