"""The loader refuses durations out of sane bounds; sync names a database refusal.

Backoff and timeout values must be finite, above zero and at most a day,
so that no stored step can overflow a retry delay or a lease; a database
that refuses a definition is reported as that, never as a concurrent sync.
"""

from __future__ import annotations

import copy
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tests.workflows.test_definitions import problems_of, row_counts, spec_dict, write


@pytest.mark.parametrize(
    ("field", "text", "named"),
    [
        ("timeout_seconds", "timeout_seconds: 86401", "'timeout_seconds'"),
        ("timeout_seconds", "timeout_seconds: 0", "'timeout_seconds'"),
        ("backoff", "backoff: {base_seconds: .inf}", "'backoff.base_seconds'"),
        ("backoff", "backoff: {base_seconds: .nan}", "'backoff.base_seconds'"),
        ("backoff", "backoff: {base_seconds: 0}", "'backoff.base_seconds'"),
        ("backoff", "backoff: {base_seconds: 1.0e+308}", "'backoff.base_seconds'"),
        (
            "backoff",
            "backoff: {base_seconds: 1, max_seconds: .inf}",
            "'backoff.max_seconds'",
        ),
        (
            "backoff",
            "backoff: {base_seconds: 1, max_seconds: 90000}",
            "'backoff.max_seconds'",
        ),
        ("retry_limit", "retry_limit: 0", "'retry_limit'"),
        ("retry_limit", "retry_limit: 101", "'retry_limit'"),
    ],
)
def test_a_duration_out_of_bounds_is_refused_naming_the_step_and_field(
    tmp_path, field, text, named
):
    """Each out-of-bounds value is one problem naming file, step and field."""
    # Written as YAML text: .inf and .nan have no other spelling.
    lines = [
        "namespace: defs",
        "name: flow",
        "version: 1.0.0",
        "steps:",
        "  - name: fetch",
        "    handler: tests.handlers.Add",
        f"    {text}",
    ]
    path = write(tmp_path, "flow.yaml", "\n".join(lines) + "\n")
    problems = problems_of(path)
    assert any(
        named.strip("'") in problem and "fetch" in problem and "flow.yaml" in problem
        for problem in problems
    ), problems


def test_a_day_is_still_allowed(tmp_path):
    """The bounds are inclusive: a day of timeout and backoff, 100 attempts."""
    from workflows.definitions.loader import load_paths

    raw = copy.deepcopy(spec_dict())
    raw["steps"][0]["timeout_seconds"] = 86400
    raw["steps"][0]["retry_limit"] = 100
    raw["steps"][0]["backoff"] = {"base_seconds": 0.05, "max_seconds": 86400}
    (spec,) = load_paths([write(tmp_path, "flow.yaml", raw)])
    assert spec.steps[0].timeout_seconds == 86400
    assert spec.steps[0].retry_limit == 100


@pytest.fixture
def refusing_database(db):
    """A database rule that refuses every new workflow definition row."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION tasker_test_refuse() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'definitions are frozen by policy' "
                "USING ERRCODE = 'check_violation'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER tasker_test_refuse BEFORE INSERT ON "
                "workflows_workflowdefinition FOR EACH ROW "
                "EXECUTE FUNCTION tasker_test_refuse()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER tasker_test_refuse BEFORE INSERT ON "
                "workflows_workflowdefinition BEGIN "
                "SELECT RAISE(ABORT, 'definitions are frozen by policy'); END"
            )
    return


def test_a_database_refusal_is_reported_as_such(tmp_path, refusing_database):
    """A refusal names the workflow and the database's words, not a race."""
    before = row_counts()
    path = write(tmp_path, "flow.yaml", spec_dict())
    with pytest.raises(CommandError) as refused:
        call_command("sync_workflows", str(path), stdout=StringIO())
    message = str(refused.value)
    assert refused.value.returncode == 2
    assert "database refused" in message
    assert "frozen by policy" in message
    assert "defs.flow@1.0.0" in message
    assert "another sync" not in message
    assert row_counts() == before
