"""PostgreSQL's settle function is the one states.py and the models describe today.

``workflows.engine.settle_function`` renders ``tasker_step_complete`` from the
state machine; a migration installs it with the values it froze. These tests
fail when the two have drifted apart, i.e. when states.py, a table name, a
reason or the function's text changed without a migration that installs the
new function.
"""

from __future__ import annotations

import difflib
import pprint
import sys
from types import ModuleType, SimpleNamespace

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from workflows.engine import settle_function
from workflows.engine.settle_function import SettleValues

ADD_A_MIGRATION = (
    "add a migration that calls settle_function.install: run "
    "`python manage.py makemigrations workflows --empty -n step_complete_function`, "
    "copy the operations of {latest} into it, and set\n"
    "SETTLE_FUNCTION_VALUES = {values}\n"
    "SETTLE_FUNCTION_FINGERPRINT = {fingerprint!r}"
)


def latest_settle_migration() -> tuple[str, ModuleType]:
    """Return the name and module of the last workflows migration installing it."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (leaf,) = graph.leaf_nodes("workflows")
    for app, name in reversed(graph.forwards_plan(leaf)):
        module = sys.modules[type(graph.nodes[app, name]).__module__]
        if app == "workflows" and hasattr(module, "SETTLE_FUNCTION_VALUES"):
            return name, module
    raise AssertionError("no workflows migration installs tasker_step_complete")


def how_to_fix(latest: str) -> str:
    return ADD_A_MIGRATION.format(
        latest=latest,
        values=pprint.pformat(SettleValues.current().as_literal(), sort_dicts=False),
        fingerprint=settle_function.fingerprint(),
    )


def test_the_latest_migration_installs_the_function_states_py_describes_today():
    """A change to states.py, a table, a reason or the SQL needs a new migration.

    Checked on every database: the migration's frozen values and the
    fingerprint of the text it installs must be today's.
    """
    name, module = latest_settle_migration()
    frozen = SettleValues(**module.SETTLE_FUNCTION_VALUES)
    assert frozen == SettleValues.current(), (
        f"states.py or a model's table changed since migration {name}; "
        + how_to_fix(name)
    )
    assert settle_function.fingerprint() == module.SETTLE_FUNCTION_FINGERPRINT, (
        f"the text of tasker_step_complete changed since migration {name}; "
        + how_to_fix(name)
    )


@pytest.mark.django_db
def test_the_function_in_the_database_is_the_one_generated_today():
    """The installed function (pg_proc) is the text settle_function generates.

    SQLite has no such function: there, installing it writes nothing.
    """
    if connection.vendor != "postgresql":
        executed: list[str] = []
        editor = SimpleNamespace(connection=connection, execute=executed.append)
        settle_function.install(editor, SettleValues.current())
        assert executed == []
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.prosrc, pg_get_function_arguments(p.oid), "
            "pg_get_function_result(p.oid), l.lanname, p.provolatile, "
            "pg_get_functiondef(p.oid) "
            "FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
            "WHERE p.proname = %s AND pg_function_is_visible(p.oid)",
            [settle_function.NAME],
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, f"expected one {settle_function.NAME}, found {len(rows)}"
    source, arguments, result, language, volatility, definition = rows[0]
    name, _ = latest_settle_migration()
    generated = settle_function.function_body(SettleValues.current())
    diff = "\n".join(
        difflib.unified_diff(
            source.splitlines(),
            generated.splitlines(),
            "installed",
            "generated",
            lineterm="",
        )
    )
    assert source == generated, (
        f"the installed {settle_function.NAME} is not the one generated from "
        f"states.py today:\n{diff}\n" + how_to_fix(name)
    )
    assert (arguments, result) == (settle_function.ARGUMENTS, settle_function.RESULT)
    assert (language, volatility) == ("plpgsql", "v"), definition
