"""Management commands with bad arguments: exit code 2 and a message, no traceback.

Each case runs the command as the shell does — ``ManagementUtility`` parsing
``argv``, ``run_from_argv`` turning a ``CommandError`` into its exit code —
but in this process, so a few hundred cases stay fast and share the test
database. An exception other than ``SystemExit`` fails the test with its
traceback. An argument that is not valid UTF-8 reaches Python as a lone
surrogate (``surrogateescape``), which is how ``\\udcff`` below gets in.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import yaml
from django.core.management import ManagementUtility
from django.db import connections

from audit.models import AuditEvent
from namespaces.models import Namespace
from workflows.models import StepTemplate, Task, WorkflowDefinition

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def shell(monkeypatch) -> Callable[..., Run]:
    """Return ``shell(*argv)``: run ``manage.py *argv``, return code and output."""
    # run_from_argv closes every connection when done: keep the test's.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*argv: str) -> Run:
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                ManagementUtility(["manage.py", *argv]).execute()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return Run(code, out.getvalue(), err.getvalue())

    return run


def refused(run: Run, *expected: str) -> None:
    """Assert exit code 2, each ``expected`` text in stderr, and no traceback."""
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    for text in expected:
        assert text in run.stderr, run.stderr


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Task, WorkflowDefinition, StepTemplate, Namespace, AuditEvent)
    )


# --- start_task -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--context", '{"start": 1, "marker_dir": "\\u0000"}'), "context.marker_dir"),
        (("--context", '{"start": 1, "marker_dir": "\\ud800"}'), "Lone surrogates"),
        (("--context", '{"start": 1, "\\ud800": 1}'), "in keys"),
        (("--context", '{"start": NaN}'), "context.start: Numbers must be finite"),
        (("--context", '{"sleep": Infinity}'), "context.sleep"),
        (("--context", '{"sleep": -1e999}'), "context.sleep"),
        (("--context", '{"start": ' + "9" * 5000 + "}"), "not valid JSON"),
        (("--context", '{"fail": ' + "[" * 70 + "]" * 70 + "}"), "Nested deeper"),
        (("--context", DEEP), "not valid JSON: nested too deeply"),
        (("--context", ""), "not valid JSON"),
        (("--context", "[1, 2]"), "context must be a JSON object"),
        (("--context", "{}", "--reason", "\udcff"), "--reason: Lone surrogates"),
        (("--context", "{}", "--idempotency-key", "\udcff"), "--idempotency-key"),
        (("--context", "{}", "--idempotency-key", ""), "idempotency key"),
        (("--context", "{}", "--idempotency-key", "k" * 201), "idempotency key"),
        (("--context", "{}", "--version", "\udcff"), "--version: Lone surrogates"),
        (("--context", "{}", "--version", "x" * 10_000), "has no version"),
        (("--example", "--version", "99999999999999999999.0.0"), "has no version"),
        (("--context", "{}", "--example"), "not allowed with argument"),
        (("--context", "{}", "--bogus"), "unrecognized arguments"),
        ((), "one of the arguments --context --example is required"),
    ],
)
def test_start_task_refuses_bad_arguments(shell, synced, args, expected):
    """Every bad --context or argument exits 2 naming it; nothing is written."""
    before = counts()
    refused(shell("start_task", "testing", "chain", *args), expected)
    assert counts() == before


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (("\udcff", "chain"), "NAMESPACE: Lone surrogates"),
        (("testing", "\udcff"), "NAME: Lone surrogates"),
        (("", ""), "not found"),
        (("x" * 10_000, "chain"), "not found"),
        (("testing",), "the following arguments are required: name"),
    ],
)
def test_start_task_refuses_bad_names(shell, synced, target, expected):
    before = counts()
    refused(shell("start_task", *target, "--context", "{}"), expected)
    assert counts() == before


def test_start_task_still_starts_with_good_arguments(shell, synced):
    context = '{"start": 1, "marker_dir": "😀 \\ud83d\\ude00"}'
    run = shell("start_task", "testing", "chain", "--context", context)
    assert run.code == 0, run.stderr
    assert Task.objects.filter(pk=uuid.UUID(run.stdout.strip())).exists()


# --- task_status, sweep, seed_demo -------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("task_status",), "the following arguments are required: task_id"),
        (("task_status", ""), "is not a UUID"),
        (("task_status", "\udcff"), "is not a UUID"),
        (("task_status", "1" * 10_000), "is not a UUID"),
        (("task_status", str(uuid.UUID(int=0))), "not found"),
        (("task_status", str(uuid.uuid4()), "--bogus"), "unrecognized arguments"),
        (("sweep", "extra"), "unrecognized arguments"),
        (("sweep", "--bogus"), "unrecognized arguments"),
        (("seed_demo", "extra"), "unrecognized arguments"),
        (("seed_demo",), "refusing to create demo logins with DEBUG off"),
    ],
)
def test_commands_refuse_bad_arguments(shell, db, argv, expected):
    before = counts()
    refused(shell(*argv), expected)
    assert counts() == before


# --- sync_workflows ----------------------------------------------------------------

BASE = {
    "namespace": "fuzz",
    "name": "order",
    "version": "1.0.0",
    "steps": [{"name": "only", "handler": "tests.handlers.Add"}],
}
BASE_YAML = yaml.safe_dump(BASE, sort_keys=False)


def with_step_line(line: str) -> str:
    assert "- name: only\n" in BASE_YAML
    return BASE_YAML.replace("- name: only\n", f"- name: only\n  {line}\n")


# Values `--check` accepted before but writing them crashed (a traceback) or
# failed in the database (exit 1, "has migrate run?"): each is now a problem
# naming file, workflow, step and path, found by --check as by the sync.
UNSYNCABLE = [
    (
        with_step_line("handler_config: {when: 2024-01-01}"),
        "step 'only': handler_config.when",
    ),
    (with_step_line("handler_config: {1: a, b: c}"), "handler_config.1: Keys must be"),
    (with_step_line("handler_config: {rate: .nan}"), "handler_config.rate: Numbers"),
    (with_step_line('handler_config: {to: "a\\0b"}'), "handler_config.to: Null"),
    (with_step_line('handler_config: {to: "\\ud800"}'), "Lone surrogates"),
    (with_step_line("handler_config: {key: !!binary aGk=}"), "Not a JSON value: bytes"),
    (with_step_line("handler_config: {ids: !!set {a, b}}"), "Not a JSON value: set"),
    (with_step_line('description: "a\\0b"'), "step 'only': description: Null"),
    (with_step_line("retry_limit: 99999999999999999999"), "'retry_limit' must be"),
    (BASE_YAML + 'description: "a\\0b"\n', "order@1.0.0: description: Null"),
    (
        BASE_YAML + "example_context: {when: 2024-01-01}\n",
        "example_context.when: Not a",
    ),
    (BASE_YAML + "example_context: {n: .inf}\n", "example_context.n: Numbers"),
    (BASE_YAML + 'example_context: {n: "\\0"}\n', "example_context.n: Null"),
    (BASE_YAML + "context_schema: {maximum: .nan}\n", "context_schema.maximum"),
    (
        BASE_YAML.replace("version: 1.0.0", "version: 99999999999999999999.0.0"),
        "each number must be at most 2147483647",
    ),
    (BASE_YAML + "1: one\n", "1: Keys must be strings"),
    (
        BASE_YAML
        + "example_context:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"  {b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n"
            for a, b in zip("abcdefg", "bcdefgh", strict=True)
        ),
        "example_context: Holds more than",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), UNSYNCABLE, ids=[str(i) for i in range(len(UNSYNCABLE))]
)
def test_sync_refuses_in_check_what_it_cannot_write(
    shell, db, tmp_path, text, expected
):
    """--check and the sync refuse alike, exit 2, naming where; nothing written."""
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    before = counts()
    for extra in (("--check",), ()):
        run = shell("sync_workflows", str(tmp_path), *extra)
        refused(run, f"{path}: workflow fuzz.order@", expected)
        assert counts() == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe not utf-8", "cannot read"),
        (b"", "expected a mapping at the top level"),
        (b"[1, 2]", "expected a mapping at the top level"),
        (b"a: [", "not valid YAML"),
        (b"a: !!python/object:os.system {}", "not valid YAML"),
        (b"a: " + b"9" * 5000, "not valid YAML: Exceeds the limit (4300 digits)"),
        (b"a: " + b"[" * 100_000, "not valid YAML"),
    ],
)
def test_sync_refuses_unreadable_files(shell, db, tmp_path, content, expected):
    (tmp_path / "bad.yaml").write_bytes(content)
    before = counts()
    refused(shell("sync_workflows", str(tmp_path), "--check"), expected)
    refused(shell("sync_workflows", str(tmp_path)), expected)
    assert counts() == before


@pytest.mark.parametrize(
    "argv",
    [("missing",), ("\udcff",), ("--bogus",)],
)
def test_sync_refuses_bad_paths(shell, db, tmp_path, argv):
    before = counts()
    args = [str(tmp_path / a) if not a.startswith("--") else a for a in argv]
    run = shell("sync_workflows", *args)
    assert run.code == 2, run
    assert "Traceback" not in run.stderr
    assert counts() == before


def test_sync_still_writes_a_good_file(shell, db, tmp_path):
    (tmp_path / "ok.yaml").write_text(BASE_YAML + "example_context: {n: 1}\n")
    run = shell("sync_workflows", str(tmp_path))
    assert run.code == 0, run.stderr
    assert "created   fuzz.order@1.0.0" in run.stdout
    definition = WorkflowDefinition.objects.get(name="order")
    assert json.loads(json.dumps(definition.example_context)) == {"n": 1}
