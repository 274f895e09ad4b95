"""Load YAML workflow definitions into validated, immutable specs.

Every problem is reported with the file, the workflow and the step it is
in, and every problem of every file is reported at once, so one run of
``sync_workflows`` shows the whole list to fix.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import yaml
from django.utils.module_loading import import_string
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from namespaces.models import SLUG_PATTERN
from tasker_project.core.json_values import json_value_errors, path_segment
from workflows.models.definitions import NAME_PATTERN, StepKind, parse_semver

WORKFLOW_KEYS = {
    "namespace",
    "name",
    "version",
    "description",
    "default",
    "deprecated",
    "context_schema",
    "example_context",
    "steps",
}
STEP_KEYS = {
    "name",
    "handler",
    "description",
    "depends_on",
    "kind",
    "retryable",
    "retry_limit",
    "backoff",
    "timeout_seconds",
    "handler_config",
}
DEFAULT_APPROVAL_HANDLER = "workflows.builtin_handlers.RequireApproval"
BACKOFF_KEYS = {"base_seconds", "max_seconds", "jitter"}
# Flags that may change on a published version: they steer new starts only.
LIFECYCLE_KEYS = {"default", "deprecated"}
# The largest value of the integer columns (a version's numbers).
MAX_STORED_INTEGER = 2**31 - 1
# Total attempts of a step. Each manual retry grants this many more, so a
# bound far below the column's keeps ``max_attempts`` from overflowing it.
MAX_RETRY_LIMIT = 100


@dataclass(frozen=True)
class StepSpec:
    """One validated step template."""

    name: str
    handler: str
    description: str = ""
    depends_on: tuple[str, ...] = ()
    kind: str = StepKind.TASK
    retryable: bool = True
    retry_limit: int = 3
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    backoff_jitter: bool = True
    timeout_seconds: int = 300
    handler_config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowSpec:
    """One validated workflow version, as read from one file."""

    source: str
    namespace: str
    name: str
    version: str
    description: str
    context_schema: dict[str, Any]
    example_context: dict[str, Any] | None
    steps: tuple[StepSpec, ...]
    default: bool | None
    deprecated: bool
    spec_hash: str

    @property
    def key(self) -> tuple[str, str, str]:
        """Return ``(namespace, name, version)``."""
        return (self.namespace, self.name, self.version)

    @property
    def label(self) -> str:
        """Return ``namespace.name@version``."""
        return f"{self.namespace}.{self.name}@{self.version}"


class DefinitionError(Exception):
    """One or more definition files are invalid; nothing was synced."""

    code = "invalid_definition"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Problems:
    """Collect problems for one file, each prefixed with where it is."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.workflow = "?"
        self.items: list[str] = []

    def add(self, message: str, step: str | None = None) -> None:
        where = f"{self.source}: workflow {self.workflow}"
        if step is not None:
            where += f", step '{step}'"
        self.items.append(f"{where}: {message}")


def spec_hash(raw: dict[str, Any]) -> str:
    """Return the sha256 of the canonical spec, lifecycle flags excluded."""
    content = {k: v for k, v in raw.items() if k not in LIFECYCLE_KEYS}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_files(paths: Iterable[str | Path]) -> list[Path]:
    """Return every ``*.yaml``/``*.yml`` file under ``paths``, sorted."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found.extend(
                p
                for p in path.rglob("*")
                if p.suffix in {".yaml", ".yml"} and p.is_file()
            )
        elif path.is_file():
            found.append(path)
        else:
            raise DefinitionError([f"{path}: no such file or directory"])
    return sorted(found)


def load_paths(paths: Iterable[str | Path]) -> list[WorkflowSpec]:
    """Load and validate every definition under ``paths``.

    Raise :class:`DefinitionError` listing every problem of every file,
    including two files that declare the same version.
    """
    specs: list[WorkflowSpec] = []
    problems: list[str] = []
    for path in find_files(paths):
        try:
            specs.append(load_file(path))
        except DefinitionError as exc:
            problems.extend(exc.problems)
    seen: dict[tuple[str, str, str], str] = {}
    for spec in specs:
        if spec.key in seen:
            problems.append(
                f"{spec.source}: workflow {spec.label}: the same version is also "
                f"defined in {seen[spec.key]}"
            )
        seen.setdefault(spec.key, spec.source)
    if problems:
        raise DefinitionError(problems)
    return specs


def load_file(path: str | Path) -> WorkflowSpec:
    """Load one YAML file; raise :class:`DefinitionError` naming every problem."""
    source = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([f"{source}: cannot read: {exc}"]) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError([f"{source}: not valid YAML: {exc}"]) from exc
    except (ValueError, RecursionError) as exc:
        # An integer too long to read (over 4300 digits), or nesting too deep.
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise DefinitionError([f"{source}: not valid YAML: {reason}"]) from exc
    return parse_spec(raw, source=source)


def parse_spec(raw: Any, *, source: str) -> WorkflowSpec:
    """Validate one definition document; raise :class:`DefinitionError`."""
    problems = _Problems(source)
    if not isinstance(raw, dict):
        raise DefinitionError([f"{source}: expected a mapping at the top level"])
    problems.workflow = (
        f"{raw.get('namespace', '?')}.{raw.get('name', '?')}@{raw.get('version', '?')}"
    )
    if _unstorable(raw, problems):
        # A value the database cannot store (a YAML date, NaN, a NUL, an
        # integer key) would also trip the checks below: report it alone.
        raise DefinitionError(problems.items)
    for key in sorted(set(raw) - WORKFLOW_KEYS):
        problems.add(f"unknown key '{key}'")
    for key in ("namespace", "name", "version", "steps"):
        if key not in raw:
            problems.add(f"missing required key '{key}'")

    namespace = raw.get("namespace")
    if "namespace" in raw and not (
        isinstance(namespace, str) and re.fullmatch(SLUG_PATTERN, namespace)
    ):
        problems.add(f"namespace {namespace!r} must match {SLUG_PATTERN}")
    name = raw.get("name")
    if "name" in raw and not (
        isinstance(name, str) and re.fullmatch(NAME_PATTERN, name)
    ):
        problems.add(f"name {name!r} must match {NAME_PATTERN}")
    version = raw.get("version")
    if "version" in raw:
        try:
            parts = parse_semver(str(version))
        except ValueError as exc:
            problems.add(str(exc))
        else:
            if max(parts) > MAX_STORED_INTEGER:
                problems.add(
                    f"version {version!r}: each number must be at most "
                    f"{MAX_STORED_INTEGER}"
                )

    schema = raw.get("context_schema", {"type": "object"})
    schema_ok = False
    if not isinstance(schema, dict):
        problems.add("context_schema must be a mapping (a JSON Schema)")
    else:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.add(f"context_schema is not a valid JSON Schema: {exc.message}")
        else:
            unresolved = schema_ref_problems(schema)
            for problem in unresolved:
                problems.add(f"context_schema: {problem}")
            schema_ok = not unresolved

    example = raw.get("example_context")
    if example is not None:
        if not isinstance(example, dict):
            problems.add("example_context must be a mapping")
        elif schema_ok:
            validator = Draft202012Validator(schema, format_checker=FormatChecker())
            for error in validator.iter_errors(example):
                path = ".".join(str(p) for p in error.absolute_path) or "$"
                problems.add(
                    f"example_context is refused by context_schema at {path}: "
                    f"{error.message}"
                )

    for flag in ("default", "deprecated"):
        if flag in raw and not isinstance(raw[flag], bool):
            problems.add(f"'{flag}' must be true or false")
    if raw.get("default") is True and raw.get("deprecated") is True:
        problems.add("a deprecated version cannot be the default")

    steps = _parse_steps(raw.get("steps"), problems) if "steps" in raw else []
    if problems.items:
        raise DefinitionError(problems.items)
    return WorkflowSpec(
        source=source,
        namespace=str(namespace),
        name=str(name),
        version=str(version),
        description=str(raw.get("description") or "").strip(),
        context_schema=schema,
        example_context=example,
        steps=tuple(steps),
        default=raw.get("default"),
        deprecated=bool(raw.get("deprecated", False)),
        spec_hash=spec_hash(raw),
    )


def _unstorable(raw: dict[str, Any], problems: _Problems) -> bool:
    """Add a problem for each value of ``raw`` that cannot be stored as JSON.

    A problem inside a step names the step, like every other step problem.
    """
    found = json_value_errors(raw, field="")
    steps = raw.get("steps")
    for path, messages in found.items():
        where, step = path, None
        head, _, rest = path.partition(".")
        index, _, inner = rest.partition(".")
        if head == "steps" and isinstance(steps, list) and index.isdigit():
            position = int(index)
            entry = steps[position] if position < len(steps) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            step = path_segment(name) if isinstance(name, str) else f"#{position + 1}"
            where = inner or "the step"
        for message in messages:
            problems.add(f"{where}: {message}", step)
    return bool(found)


def _parse_steps(raw_steps: Any, problems: _Problems) -> list[StepSpec]:
    """Validate the step list, its dependency graph and its handlers."""
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.add("'steps' must be a non-empty list")
        return []
    steps: list[StepSpec] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            problems.add(f"step #{index + 1} must be a mapping")
            continue
        step_name = raw.get("name")
        label = step_name if isinstance(step_name, str) else f"#{index + 1}"
        if not (isinstance(step_name, str) and re.fullmatch(NAME_PATTERN, step_name)):
            problems.add(f"name {step_name!r} must match {NAME_PATTERN}", label)
            continue
        if step_name in names:
            problems.add("duplicate step name", step_name)
            continue
        names.add(step_name)
        spec = _parse_step(raw, step_name, problems)
        if spec is not None:
            steps.append(spec)
    for spec in steps:
        for dep in spec.depends_on:
            if dep not in names:
                problems.add(f"depends on unknown step '{dep}'", spec.name)
            elif dep == spec.name:
                problems.add("depends on itself", spec.name)
    # Unknown and self dependencies are reported above, and steps refused
    # for another reason are not in ``steps``: leave them all out of the
    # graph so one mistake gives one message.
    parsed = {s.name for s in steps}
    cycle = find_cycle(
        {
            s.name: [d for d in s.depends_on if d in parsed and d != s.name]
            for s in steps
        }
    )
    if cycle:
        problems.add(
            "dependency cycle: " + " → ".join(cycle) + " (each depends on the next)",
            cycle[0],
        )
    return steps


def _parse_step(raw: dict[str, Any], name: str, problems: _Problems) -> StepSpec | None:
    """Validate one step's keys, retry policy and handler import."""
    before = len(problems.items)
    for key in sorted(set(raw) - STEP_KEYS):
        problems.add(f"unknown key '{key}'", name)
    handler = raw.get("handler")
    if handler is None and raw.get("kind") == StepKind.APPROVAL:
        # An approval step with no code of its own always asks a person.
        handler = DEFAULT_APPROVAL_HANDLER
    if not isinstance(handler, str) or not handler:
        problems.add("missing 'handler' (a dotted path to a StepHandler class)", name)
    else:
        problem = handler_problem(handler)
        if problem:
            problems.add(problem, name)
    depends_on = raw.get("depends_on", [])
    if not isinstance(depends_on, list) or not all(
        isinstance(d, str) for d in depends_on
    ):
        problems.add("'depends_on' must be a list of step names", name)
        depends_on = []
    if len(set(depends_on)) != len(depends_on):
        problems.add("'depends_on' lists a step twice", name)
    kind = raw.get("kind", StepKind.TASK)
    if kind not in StepKind.values:
        problems.add(f"kind {kind!r} must be one of {', '.join(StepKind.values)}", name)
    retry_limit = raw.get("retry_limit", 3)
    if (
        not isinstance(retry_limit, int)
        or isinstance(retry_limit, bool)
        or not 1 <= retry_limit <= MAX_RETRY_LIMIT
    ):
        problems.add(
            f"'retry_limit' must be an integer from 1 to {MAX_RETRY_LIMIT} "
            "(total attempts)",
            name,
        )
    timeout = raw.get("timeout_seconds", 300)
    if (
        not isinstance(timeout, int)
        or isinstance(timeout, bool)
        or not 1 <= timeout <= MAX_SECONDS
    ):
        problems.add(
            f"'timeout_seconds' must be an integer from 1 to {MAX_SECONDS} (a day)",
            name,
        )
    backoff = raw.get("backoff", {})
    base, maximum, jitter = 1.0, 300.0, True
    if not isinstance(backoff, dict):
        problems.add("'backoff' must be a mapping", name)
    else:
        for key in sorted(set(backoff) - BACKOFF_KEYS):
            problems.add(f"unknown backoff key '{key}'", name)
        base = backoff.get("base_seconds", 1.0)
        maximum = backoff.get(
            "max_seconds", max(300.0, base) if _is_number(base) else 300
        )
        jitter = backoff.get("jitter", True)
        if not _seconds(base):
            problems.add(
                "'backoff.base_seconds' must be a finite number above 0 and at "
                f"most {MAX_SECONDS} (a day)",
                name,
            )
        elif not _seconds(maximum) or maximum < base:
            problems.add(
                "'backoff.max_seconds' must be a finite number from base_seconds "
                f"to {MAX_SECONDS} (a day)",
                name,
            )
        if not isinstance(jitter, bool):
            problems.add("'backoff.jitter' must be true or false", name)
    if "retryable" in raw and not isinstance(raw["retryable"], bool):
        problems.add("'retryable' must be true or false", name)
    config = raw.get("handler_config", {})
    if not isinstance(config, dict):
        problems.add("'handler_config' must be a mapping", name)
    if len(problems.items) > before:
        return None
    return StepSpec(
        name=name,
        handler=str(handler),
        description=str(raw.get("description") or "").strip(),
        depends_on=tuple(depends_on),
        kind=kind,
        retryable=raw.get("retryable", True),
        retry_limit=retry_limit,
        backoff_base_seconds=float(base),
        backoff_max_seconds=float(maximum),
        backoff_jitter=jitter,
        timeout_seconds=timeout,
        handler_config=config,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# No step waits or runs longer than a day: longer values are typos, and
# unbounded ones (``.inf``, 1e308) overflow the database's timestamps.
MAX_SECONDS = 86_400


def _seconds(value: Any) -> bool:
    """Return whether ``value`` is a finite duration in (0, MAX_SECONDS]."""
    return _is_number(value) and math.isfinite(value) and 0 < value <= MAX_SECONDS


def handler_problem(dotted: str) -> str | None:
    """Return why ``dotted`` is not an importable handler class, or None."""
    try:
        handler = import_string(dotted)
    except ImportError as exc:
        return f"handler '{dotted}' does not import: {exc}"
    except Exception as exc:  # a handler module that crashes on import
        return f"handler '{dotted}' failed to import: {type(exc).__name__}: {exc}"
    if not isinstance(handler, type) or not callable(getattr(handler, "process", None)):
        return f"handler '{dotted}' is not a class with a process(ctx) method"
    return None


def schema_ref_problems(schema: dict[str, Any]) -> list[str]:
    """Return one problem per ``$ref`` in ``schema`` that does not resolve.

    The validator resolves references lazily, so a dangling or remote
    ``$ref`` would otherwise surface as a crash when the first task starts.
    Remote references are refused: nothing fetches them at run time.
    """
    root = str(schema["$id"]) if isinstance(schema.get("$id"), str) else ""
    registry = Registry().with_resource(root, DRAFT202012.create_resource(schema))
    registry = registry.crawl()
    problems: list[str] = []
    pending: list[tuple[Any, str, str]] = [(schema, root, "$")]
    while pending:
        node, base, where = pending.pop()
        if isinstance(node, dict):
            if isinstance(node.get("$id"), str):
                base = urljoin(base, node["$id"])
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    registry.resolver(base_uri=base).lookup(ref)
                except Unresolvable:
                    problems.append(f"$ref {ref!r} at {where} does not resolve")
            pending.extend(
                (value, base, f"{where}.{key}") for key, value in node.items()
            )
        elif isinstance(node, list):
            pending.extend(
                (value, base, f"{where}.{i}") for i, value in enumerate(node)
            )
    return sorted(problems)


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """Return one dependency cycle as a closed path of names, or None.

    Iterative (Kahn's algorithm, then a walk inside what is left), so a
    thousand-step chain does not hit Python's recursion limit.
    """
    dependents: dict[str, list[str]] = {node: [] for node in graph}
    remaining = {node: len(deps) for node, deps in graph.items()}
    for node, deps in graph.items():
        for dep in deps:
            dependents[dep].append(node)
    ready = [node for node, count in remaining.items() if count == 0]
    while ready:
        node = ready.pop()
        del remaining[node]
        for child in dependents[node]:
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
    if not remaining:
        return None
    # Every node left waits on another node left: walking dependencies
    # must revisit a node, closing a cycle.
    path: list[str] = []
    seen: dict[str, int] = {}
    node = next(iter(remaining))
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(dep for dep in graph[node] if dep in remaining)
    return [*path[seen[node] :], node]
