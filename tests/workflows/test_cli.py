"""Management commands: clear messages and exit code 2 on bad input, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import INPROC_QUEUE
from tests.factories import start
from tests.worker import ROOT
from tests.worker import test_database_url as database_url
from workflows.models import Task, WorkflowDefinition

ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id", "amount"],
    "properties": {
        "order_id": {"type": "string"},
        "amount": {"type": "integer", "minimum": 1},
        "customer": {
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string"}},
        },
    },
}


def order_workflow(version: str, **extra: object) -> dict:
    return {
        "namespace": "cli",
        "name": "order",
        "version": version,
        "context_schema": ORDER_SCHEMA,
        "example_context": {"order_id": "o-1", "amount": 3},
        "steps": [{"name": "only", "handler": "tests.handlers.Add"}],
        **extra,
    }


@pytest.fixture
def orders(db, tmp_path) -> Path:
    """Sync cli.order 1.0.0 and 2.0.0 (the default) from files in tmp_path."""
    directory = tmp_path / "orders"
    directory.mkdir()
    for version in ("1.0.0", "2.0.0"):
        (directory / f"order_{version}.yaml").write_text(
            yaml.safe_dump(order_workflow(version))
        )
    call_command("sync_workflows", str(directory), stdout=StringIO())
    return directory


def run(*args: str) -> str:
    """Run a command in-process and return its stdout."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def refused(*args: str) -> str:
    """Run a command that must fail with exit code 2; return its message."""
    with pytest.raises(CommandError) as info:
        run(*args)
    assert info.value.returncode == 2, str(info.value)
    return str(info.value)


def manage(*args: str) -> subprocess.CompletedProcess:
    """Run ``manage.py`` as a subprocess against the pytest test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tasker_project.settings.test",
        "DATABASE_URL": database_url(),
        "TASKER_QUEUE": INPROC_QUEUE,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- as a subprocess: the exit codes a shell sees ------------------------------


@pytest.mark.django_db(transaction=True)
def test_cli_exit_codes_from_the_command_line(tmp_path):
    """Bad files, bad JSON and bad ids exit 2 with a message and no traceback."""
    good = tmp_path / "good"
    good.mkdir()
    (good / "order.yaml").write_text(yaml.safe_dump(order_workflow("1.0.0")))
    bad = tmp_path / "bad"
    bad.mkdir()
    broken = order_workflow("1.0.0", name="broken")
    broken["steps"].append(
        {"name": "next", "handler": "tests.handlers.Add", "depends_on": ["nxet"]}
    )
    (bad / "broken.yaml").write_text(yaml.safe_dump(broken))

    result = manage("sync_workflows", str(bad))
    assert result.returncode == 2
    assert f"{bad / 'broken.yaml'}: workflow cli.broken@1.0.0, step 'next'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not WorkflowDefinition.objects.filter(name="broken").exists()

    result = manage("sync_workflows", str(good))
    assert result.returncode == 0, result.stderr
    assert "created   cli.order@1.0.0" in result.stdout

    result = manage("start_task", "cli", "order", "--context", "{not json")
    assert result.returncode == 2
    assert "--context is not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr

    result = manage("start_task", "cli", "order")
    assert result.returncode == 2
    assert "one of the arguments --context --example is required" in result.stderr

    result = manage("start_task", "cli", "order", "--version", "1.0.0", "--example")
    assert result.returncode == 0, result.stderr
    task = Task.objects.get(pk=uuid.UUID(result.stdout.strip()))
    assert task.definition.version == "1.0.0"

    result = manage("start_task", "cli", "order", "--version", "9.9.9", "--example")
    assert result.returncode == 2
    assert "has no version 9.9.9" in result.stderr

    result = manage("task_status", "not-a-uuid")
    assert result.returncode == 2
    assert "'not-a-uuid' is not a UUID" in result.stderr

    result = manage("task_status", str(task.pk), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == str(task.pk)


# --- sync_workflows ---------------------------------------------------------


def test_sync_check_writes_nothing(db, tmp_path):
    """--check validates and lists the files but creates no rows."""
    (tmp_path / "order.yaml").write_text(yaml.safe_dump(order_workflow("1.0.0")))
    out = run("sync_workflows", str(tmp_path), "--check")
    assert "ok cli.order@1.0.0" in out
    assert not WorkflowDefinition.objects.exists()


def test_sync_check_refuses_a_changed_published_version(orders):
    """--check compares with the database, so it fails where the sync would."""
    changed = order_workflow("1.0.0")
    changed["steps"][0]["retry_limit"] = 7
    (orders / "order_1.0.0.yaml").write_text(yaml.safe_dump(changed))
    message = refused("sync_workflows", str(orders), "--check")
    assert "cli.order@1.0.0: published version changed" in message
    assert "bump the version instead" in message


def test_sync_of_a_path_without_workflow_files_is_refused(db, tmp_path):
    """An explicit path with no YAML in it is an error, not a silent no-op."""
    message = refused("sync_workflows", str(tmp_path))
    assert "no workflow files" in message
    assert str(tmp_path) in message


def test_sync_of_a_missing_path_is_refused(db, tmp_path):
    """A path that does not exist exits 2 naming it."""
    message = refused("sync_workflows", str(tmp_path / "missing"))
    assert f"{tmp_path / 'missing'}: no such file or directory" in message


# --- start_task ---------------------------------------------------------------


def test_start_task_with_example_prints_the_new_task_id(orders):
    """--example starts the default version with its example context."""
    out = run("start_task", "cli", "order", "--example", "--reason", "smoke")
    task = Task.objects.get(pk=uuid.UUID(out.strip()))
    assert task.definition.version == "2.0.0"
    assert task.context == {"order_id": "o-1", "amount": 3}
    assert task.reason == "smoke"
    assert task.steps.count() == 1


def test_start_task_version_selects_the_version(orders):
    """--version names the workflow version (not Django's --version)."""
    out = run(
        "start_task",
        "cli",
        "order",
        "--version",
        "1.0.0",
        "--context",
        '{"order_id": "o-9", "amount": 1}',
    )
    task = Task.objects.get(pk=out.strip())
    assert task.definition.version == "1.0.0"
    assert task.context["order_id"] == "o-9"


def test_start_task_with_idempotency_key_returns_the_same_task(orders):
    """The same key and context print the same task id."""
    args = ("start_task", "cli", "order", "--example", "--idempotency-key", "k-1")
    first = run(*args)
    assert run(*args) == first
    assert Task.objects.count() == 1


def test_start_task_invalid_json_is_refused(orders):
    """A --context that is not JSON exits 2 with the parser's message."""
    message = refused("start_task", "cli", "order", "--context", "{'single': 1}")
    assert "--context is not valid JSON" in message
    assert not Task.objects.exists()


def test_start_task_context_not_an_object_is_refused(orders):
    """A JSON array is not a context."""
    message = refused("start_task", "cli", "order", "--context", "[1, 2]")
    assert "context must be a JSON object" in message


def test_start_task_schema_failure_lists_every_field_path(orders):
    """Every violation is listed by its path, nested ones included."""
    context = json.dumps({"amount": 0, "customer": {}})
    message = refused("start_task", "cli", "order", "--context", context)
    assert "context.order_id: This field is required." in message
    assert "context.amount:" in message
    assert "context.customer.email: This field is required." in message
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("nosuchteam", "order"), "namespace 'nosuchteam' not found"),
        (("cli", "nosuchflow"), "namespace cli has no workflow 'nosuchflow'"),
        (("cli", "order", "--version", "3.0.0"), "cli.order has no version 3.0.0"),
    ],
)
def test_start_task_unknown_target_is_refused_naming_it(orders, args, expected):
    """An unknown namespace, workflow or version exits 2 naming it."""
    message = refused("start_task", *args, "--context", "{}")
    assert expected in message
    message = refused("start_task", *args, "--example")
    assert expected in message


def test_start_task_deprecated_version_is_refused(orders):
    """A deprecated version refuses new starts and points at the default."""
    (orders / "order_1.0.0.yaml").write_text(
        yaml.safe_dump(order_workflow("1.0.0", deprecated=True))
    )
    run("sync_workflows", str(orders))
    message = refused("start_task", "cli", "order", "--version", "1.0.0", "--example")
    assert "deprecated" in message
    assert "2.0.0" in message


def test_start_task_example_missing_is_refused(db, tmp_path):
    """--example on a workflow without example_context exits 2."""
    raw = order_workflow("1.0.0")
    del raw["example_context"]
    (tmp_path / "order.yaml").write_text(yaml.safe_dump(raw))
    run("sync_workflows", str(tmp_path))
    message = refused("start_task", "cli", "order", "--example")
    assert "has no example_context" in message


# --- task_status ----------------------------------------------------------------


def test_task_status_json_has_the_documented_keys(synced):
    """--json prints the task and each step with status, attempts and results."""
    task = start("testing.chain", {"start": 1})
    body = json.loads(run("task_status", str(task.pk), "--json"))
    assert body["id"] == str(task.pk)
    assert body["status"] == task.status
    assert [s["name"] for s in body["steps"]] == ["first", "second", "third"]
    for step in body["steps"]:
        assert set(step) >= {"name", "status", "attempts", "results", "error"}
    assert body["steps"][0]["status"] == "enqueued"


def test_task_status_table(synced):
    """Without --json it prints a readable table with every step."""
    task = start("testing.chain", {"start": 1})
    out = run("task_status", str(task.pk))
    assert str(task.pk) in out
    assert "testing.chain@1.0.0" in out
    for name in ("first", "second", "third"):
        assert name in out


def test_task_status_rejects_a_non_uuid(db):
    message = refused("task_status", "12345")
    assert "'12345' is not a UUID" in message


def test_task_status_unknown_task(db):
    missing = uuid.uuid4()
    message = refused("task_status", str(missing))
    assert f"task {missing} not found" in message


# --- sweep ------------------------------------------------------------------------


def test_sweep_prints_its_report_as_json(db):
    """sweep runs once and prints counters as JSON."""
    report = json.loads(run("sweep"))
    assert isinstance(report, dict)
    assert all(isinstance(v, int) for v in report.values())
