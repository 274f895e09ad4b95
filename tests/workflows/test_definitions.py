"""Workflow definitions: YAML validation, sync into rows, versions, immutability."""

from __future__ import annotations

import copy
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from auditlog.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import ProtectedError

from audit.models import AuditEvent
from tasker_project.core.actors import Actor
from tests.factories import start
from workflows.definitions.loader import (
    DefinitionError,
    find_cycle,
    load_file,
    load_paths,
)
from workflows.definitions.sync import definitions_check, definitions_sync
from workflows.models import StepTemplate, WorkflowDefinition
from workflows.models.definitions import ImmutableDefinitionError

BASE: dict[str, Any] = {
    "namespace": "defs",
    "name": "flow",
    "version": "1.0.0",
    "description": "A small workflow for definition tests.",
    "context_schema": {
        "type": "object",
        "required": ["order_id"],
        "properties": {
            "order_id": {"type": "string"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["sku"],
                    "properties": {"sku": {"type": "string"}},
                },
            },
        },
    },
    "example_context": {"order_id": "o-1", "items": [{"sku": "A"}]},
    "steps": [
        {"name": "fetch", "handler": "tests.handlers.Add"},
        {"name": "check", "handler": "tests.handlers.Add", "depends_on": ["fetch"]},
        {"name": "store", "handler": "tests.handlers.Add", "depends_on": ["check"]},
    ],
}


def spec_dict(**overrides: Any) -> dict[str, Any]:
    """Return a valid definition document with ``overrides`` applied."""
    raw = copy.deepcopy(BASE)
    raw.update(overrides)
    return raw


def write(directory: Path, filename: str, raw: dict[str, Any] | str) -> Path:
    """Write one definition file (a mapping or raw YAML text) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    text = raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path | list[Path]) -> list[str]:
    """Return the problems loading ``path`` reports (it must be refused)."""
    with pytest.raises(DefinitionError) as info:
        load_paths(path if isinstance(path, list) else [path])
    return info.value.problems


def sync(*paths: Path) -> Any:
    """Load ``paths`` and sync them as the test actor."""
    return definitions_sync(specs=load_paths(paths), actor=Actor.system_actor("test"))


def row_counts() -> dict[str, int]:
    return {
        "definitions": WorkflowDefinition.objects.count(),
        "steps": StepTemplate.objects.count(),
        "audit": AuditEvent.objects.count(),
        "auditlog": LogEntry.objects.count(),
    }


def default_version(namespace: str = "defs", name: str = "flow") -> str | None:
    return (
        WorkflowDefinition.objects.filter(
            namespace__slug=namespace, name=name, is_default=True
        )
        .values_list("version", flat=True)
        .first()
    )


# --- loading -----------------------------------------------------------------


def test_valid_file_loads_into_a_spec(tmp_path):
    """A valid file gives a spec with its steps, dependencies and defaults."""
    spec = load_file(write(tmp_path, "flow.yaml", spec_dict()))
    assert spec.label == "defs.flow@1.0.0"
    assert [s.name for s in spec.steps] == ["fetch", "check", "store"]
    assert spec.steps[1].depends_on == ("fetch",)
    assert spec.steps[0].retry_limit == 3
    assert spec.default is None
    assert spec.deprecated is False


def test_fixture_workflows_load(workflow_specs):
    """The test-only chain and diamond definitions are valid."""
    labels = {s.label for s in workflow_specs}
    assert {"testing.chain@1.0.0", "testing.diamond@1.0.0"} <= labels


def test_dependency_cycle_is_refused_naming_file_workflow_step_and_path(tmp_path):
    """A cycle names the file, the workflow, a step on it and the closed path."""
    raw = spec_dict()
    raw["steps"][0]["depends_on"] = ["store"]
    path = write(tmp_path, "cycle.yaml", raw)
    [problem] = problems_of(path)
    assert str(path) in problem
    assert "defs.flow@1.0.0" in problem
    assert "dependency cycle" in problem
    assert "step 'fetch'" in problem
    assert "fetch → store → check → fetch" in problem


def test_self_dependency_is_reported_once(tmp_path):
    """A step that depends on itself gives one message, not also a cycle."""
    raw = spec_dict()
    raw["steps"][0]["depends_on"] = ["fetch"]
    [problem] = problems_of(write(tmp_path, "self.yaml", raw))
    assert "step 'fetch'" in problem
    assert "depends on itself" in problem


def test_unknown_dependency_is_refused_naming_file_workflow_and_step(tmp_path):
    """A typo in depends_on names the step and the missing dependency."""
    raw = spec_dict()
    raw["steps"][2]["depends_on"] = ["chek"]
    path = write(tmp_path, "unknown.yaml", raw)
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: workflow defs.flow@1.0.0, step 'store'")
    assert "depends on unknown step 'chek'" in problem


def test_duplicate_step_name_is_refused(tmp_path):
    """Two steps with one name are refused, naming the step."""
    raw = spec_dict()
    raw["steps"].append({"name": "check", "handler": "tests.handlers.Add"})
    path = write(tmp_path, "dup.yaml", raw)
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: workflow defs.flow@1.0.0, step 'check'")
    assert "duplicate step name" in problem


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("tests.no_such_module.Handler", "does not import"),
        ("tests.handlers.NoSuchClass", "does not import"),
        ("nodots", "does not import"),
        ("tests.handlers._inject", "is not a class with a process(ctx) method"),
        ("pathlib.Path", "is not a class with a process(ctx) method"),
    ],
)
def test_bad_handler_is_refused_naming_file_workflow_and_step(
    tmp_path, handler, expected
):
    """A handler that does not import or is not a handler class is refused."""
    raw = spec_dict()
    raw["steps"][1]["handler"] = handler
    path = write(tmp_path, "handler.yaml", raw)
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: workflow defs.flow@1.0.0, step 'check'")
    assert f"handler '{handler}'" in problem
    assert expected in problem


def test_handler_module_that_crashes_on_import_is_refused(tmp_path, monkeypatch):
    """An exception raised while importing the handler module is reported."""
    package = tmp_path / "crashing_handlers_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    raw = spec_dict()
    raw["steps"][0]["handler"] = "crashing_handlers_pkg.Handler"
    [problem] = problems_of(write(tmp_path / "defs", "crash.yaml", raw))
    assert "step 'fetch'" in problem
    assert "failed to import: RuntimeError: boom at import" in problem


def test_step_depending_on_a_refused_step_gives_one_message(tmp_path):
    """A bad handler upstream is reported once; its dependents do not crash."""
    raw = spec_dict()
    raw["steps"][0]["handler"] = "tests.handlers.Missing"
    [problem] = problems_of(write(tmp_path, "upstream.yaml", raw))
    assert "step 'fetch'" in problem
    assert "does not import" in problem


def test_directories_named_like_yaml_files_are_skipped(tmp_path):
    """Only files are loaded from a directory tree."""
    write(tmp_path, "flow.yaml", spec_dict())
    (tmp_path / "archive.yaml").mkdir()
    assert [s.label for s in load_paths([tmp_path])] == ["defs.flow@1.0.0"]


def test_unknown_keys_are_refused_at_every_level(tmp_path):
    """Typos in workflow, step and backoff keys are all refused at once."""
    raw = spec_dict(defualt=True)
    raw["steps"][0]["retry_limt"] = 2
    raw["steps"][1]["backoff"] = {"base_seconds": 1, "max_second": 5}
    path = write(tmp_path, "typos.yaml", raw)
    problems = problems_of(path)
    assert len(problems) == 3
    assert any("unknown key 'defualt'" in p for p in problems)
    assert any(
        "step 'fetch'" in p and "unknown key 'retry_limt'" in p for p in problems
    )
    assert any(
        "step 'check'" in p and "unknown backoff key 'max_second'" in p
        for p in problems
    )
    assert all(p.startswith(f"{path}: workflow defs.flow@1.0.0") for p in problems)


def test_skippable_is_no_longer_a_step_key(tmp_path):
    """``skippable`` was stored and never read; a file that sets it is told so."""
    raw = spec_dict()
    raw["steps"][0]["skippable"] = True
    path = write(tmp_path, "skippable.yaml", raw)
    (problem,) = problems_of(path)
    assert "step 'fetch'" in problem and "unknown key 'skippable'" in problem


def test_example_context_must_match_the_schema(tmp_path):
    """An example the schema refuses is reported with the file and its path."""
    raw = spec_dict(example_context={"order_id": 7, "items": [{"sku": 1}]})
    path = write(tmp_path, "example.yaml", raw)
    problems = problems_of(path)
    assert len(problems) == 2
    assert all(p.startswith(f"{path}: workflow defs.flow@1.0.0") for p in problems)
    assert any("example_context" in p and "at order_id" in p for p in problems)
    assert any("at items.0.sku" in p for p in problems)


def test_unresolvable_schema_ref_is_refused(tmp_path):
    """A dangling $ref is refused at load, not when the first task starts."""
    raw = spec_dict(
        context_schema={
            "type": "object",
            "properties": {"order_id": {"$ref": "#/$defs/order_id"}},
        },
        example_context=None,
    )
    [problem] = problems_of(write(tmp_path, "ref.yaml", raw))
    assert "$ref '#/$defs/order_id' at $.properties.order_id does not resolve" in (
        problem
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"version": 1.0}, "is not MAJOR.MINOR.PATCH"),
        ({"version": "v1.0.0"}, "is not MAJOR.MINOR.PATCH"),
        ({"name": "Flow"}, "name 'Flow' must match"),
        ({"name": "flow\n"}, "must match"),
        ({"namespace": "Defs"}, "namespace 'Defs' must match"),
        ({"steps": []}, "'steps' must be a non-empty list"),
        ({"default": True, "deprecated": True}, "cannot be the default"),
        ({"context_schema": {"type": "nonsense"}}, "not a valid JSON Schema"),
    ],
)
def test_invalid_workflow_fields_are_refused(tmp_path, overrides, expected):
    """Each malformed top-level field is refused with a message naming it."""
    path = write(tmp_path, "bad.yaml", spec_dict(**overrides))
    problems = problems_of(path)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(path)) for p in problems)


@pytest.mark.parametrize(
    "text",
    ["", "- just\n- a list\n", "namespace: [unclosed\n", "a: 1\n---\nb: 2\n"],
)
def test_files_that_are_not_one_mapping_are_refused(tmp_path, text):
    """Empty, non-mapping, broken and multi-document YAML is refused by file."""
    path = write(tmp_path, "odd.yaml", text)
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: ")


def test_every_problem_of_every_file_is_reported_at_once(tmp_path):
    """Two bad files and a duplicate version are all listed in one error."""
    good = write(tmp_path, "a_good.yaml", spec_dict())
    twin = write(tmp_path, "b_twin.yaml", spec_dict())
    cyclic = spec_dict(name="other")
    cyclic["steps"][0]["depends_on"] = ["store"]
    bad = write(tmp_path, "c_bad.yaml", cyclic)
    typo = write(tmp_path, "d_typo.yaml", spec_dict(name="third", stpes=[]))
    problems = problems_of(tmp_path)
    text = "\n".join(problems)
    assert (
        f"{twin}: workflow defs.flow@1.0.0: the same version is also defined in "
        in (text)
    )
    assert str(good) in text
    assert f"{bad}: workflow defs.other@1.0.0, step 'fetch': dependency cycle" in text
    assert f"{typo}: workflow defs.third@1.0.0: unknown key 'stpes'" in text


def test_missing_path_is_refused():
    """A path that does not exist is a definition error, not a traceback."""
    [problem] = problems_of(Path("/nonexistent/workflows"))
    assert "no such file or directory" in problem


def test_long_linear_chain_loads_without_recursion(tmp_path):
    """A 1,500-step chain validates; a cycle through all of it is reported."""
    steps = [{"name": "s0", "handler": "tests.handlers.Add"}] + [
        {"name": f"s{i}", "handler": "tests.handlers.Add", "depends_on": [f"s{i - 1}"]}
        for i in range(1, 1500)
    ]
    raw = spec_dict(name="long", steps=steps)
    spec = load_file(write(tmp_path, "long.yaml", raw))
    assert len(spec.steps) == 1500

    raw["steps"][0]["depends_on"] = ["s1499"]
    [problem] = problems_of(write(tmp_path / "cyclic", "long.yaml", raw))
    assert "dependency cycle: s0 → s1499 → s1498" in problem
    assert problem.endswith("s2 → s1 → s0 (each depends on the next)")


def test_long_chain_syncs(db, tmp_path):
    """A 1,500-step chain syncs in one go (bulk insert batches on SQLite)."""
    steps = [{"name": "s0", "handler": "tests.handlers.Add"}] + [
        {"name": f"s{i}", "handler": "tests.handlers.Add", "depends_on": [f"s{i - 1}"]}
        for i in range(1, 1500)
    ]
    sync(write(tmp_path, "long.yaml", spec_dict(name="long", steps=steps)))
    assert StepTemplate.objects.filter(definition__name="long").count() == 1500


def test_find_cycle_reports_only_the_cycle_not_its_dependents():
    """A step downstream of a cycle is not part of the reported path."""
    graph = {"tail": ["a"], "a": ["b"], "b": ["c"], "c": ["a"], "root": []}
    cycle = find_cycle(graph)
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    assert find_cycle({"a": [], "b": ["a"]}) is None


# --- sync --------------------------------------------------------------------


def test_sync_is_idempotent(db, tmp_path, workflow_specs):
    """A second sync changes nothing: no new rows, no new audit events."""
    write(tmp_path, "flow_1.yaml", spec_dict())
    write(tmp_path, "flow_2.yaml", spec_dict(version="2.0.0", deprecated=True))
    actor = Actor.system_actor("test")
    specs = [*workflow_specs, *load_paths([tmp_path])]
    first = definitions_sync(specs=specs, actor=actor)
    assert len(first.created) == len(specs)
    after_first = row_counts()

    second = definitions_sync(specs=specs, actor=actor)
    assert second.created == []
    assert second.flags_changed == []
    assert sorted(second.unchanged) == sorted(s.label for s in specs)
    assert second.defaults == first.defaults
    assert row_counts() == after_first


def test_sync_command_twice_reports_unchanged(db, tmp_path):
    """The command's second run prints every version as unchanged."""
    write(tmp_path, "flow.yaml", spec_dict())
    call_command("sync_workflows", str(tmp_path), stdout=StringIO())
    before = row_counts()
    out = StringIO()
    call_command("sync_workflows", str(tmp_path), stdout=out)
    assert "unchanged defs.flow@1.0.0" in out.getvalue()
    assert "created" not in out.getvalue()
    assert row_counts() == before


def test_changed_published_version_is_refused_and_nothing_is_written(db, tmp_path):
    """Changing a synced version's steps is refused; a new file beside it waits."""
    path = write(tmp_path, "flow.yaml", spec_dict())
    sync(path)
    before = row_counts()
    changed = spec_dict()
    changed["steps"][2]["retry_limit"] = 5
    write(tmp_path, "flow.yaml", changed)
    write(tmp_path, "other.yaml", spec_dict(name="other"))

    with pytest.raises(DefinitionError) as info:
        sync(tmp_path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}: workflow defs.flow@1.0.0: published version")
    assert "(step 'store' retry_limit)" in problem
    assert "bump the version instead" in problem
    assert row_counts() == before
    assert not WorkflowDefinition.objects.filter(name="other").exists()

    with pytest.raises(DefinitionError):
        definitions_check(specs=load_paths([tmp_path]))

    write(tmp_path, "flow.yaml", spec_dict())
    write(tmp_path, "flow_bumped.yaml", {**changed, "version": "1.1.0"})
    report = sync(tmp_path)
    assert sorted(report.created) == ["defs.flow@1.1.0", "defs.other@1.0.0"]


def _renamed_step(raw: dict[str, Any]) -> None:
    raw["steps"][2]["name"] = "persist"


def _new_handler(raw: dict[str, Any]) -> None:
    raw["steps"][1]["handler"] = "tests.handlers.NotADict"


def _reordered(raw: dict[str, Any]) -> None:
    raw["steps"][2]["depends_on"] = ["fetch"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"description": "Reworded."}, "description"),
        ({"example_context": {"order_id": "o-2"}}, "example_context"),
        ({"context_schema": {"type": "object"}}, "context_schema"),
        (_renamed_step, "step 'persist' added; step 'store' removed"),
        (_new_handler, "step 'check' handler"),
        (_reordered, "step 'store' depends_on"),
        (
            lambda raw: raw["steps"][0].update(retry_limit=3),
            "the file's content differs",
        ),
    ],
)
def test_any_contract_change_to_a_published_version_is_refused(
    db, tmp_path, change, expected
):
    """Schema, example, description and steps are the published contract."""
    path = write(tmp_path, "flow.yaml", spec_dict())
    sync(path)
    raw = spec_dict(**change) if isinstance(change, dict) else spec_dict()
    if callable(change):
        change(raw)
    write(tmp_path, "flow.yaml", raw)
    with pytest.raises(DefinitionError, match="bump the version instead") as info:
        sync(path)
    assert expected in info.value.problems[0]


def test_refusal_of_one_bad_file_among_several_writes_nothing(db, tmp_path):
    """The command refuses the whole directory when one file is bad."""
    write(tmp_path, "a.yaml", spec_dict(name="alpha"))
    bad = spec_dict(name="beta")
    bad["steps"][1]["handler"] = "tests.handlers.Nope"
    bad_path = write(tmp_path, "b.yaml", bad)
    write(tmp_path, "c.yaml", spec_dict(name="gamma"))
    before = row_counts()
    with pytest.raises(CommandError) as info:
        call_command("sync_workflows", str(tmp_path), stdout=StringIO())
    assert info.value.returncode == 2
    message = str(info.value)
    assert "nothing synced" in message
    assert f"{bad_path}: workflow defs.beta@1.0.0, step 'check'" in message
    assert row_counts() == before


def test_two_explicit_defaults_are_refused(db, tmp_path):
    """Only one version of a workflow may say default: true."""
    write(tmp_path, "one.yaml", spec_dict(default=True))
    write(tmp_path, "two.yaml", spec_dict(version="2.0.0", default=True))
    with pytest.raises(DefinitionError, match="more than one version says default"):
        sync(tmp_path)
    assert row_counts()["definitions"] == 0


def test_default_compares_versions_as_semver(db, tmp_path):
    """With 2.9.0 and 2.10.0 and no explicit default, 2.10.0 is the default."""
    write(tmp_path, "v2_9.yaml", spec_dict(version="2.9.0"))
    write(tmp_path, "v2_10.yaml", spec_dict(version="2.10.0"))
    report = sync(tmp_path)
    assert report.defaults == {"defs.flow": "2.10.0"}
    assert default_version() == "2.10.0"
    ordered = WorkflowDefinition.objects.filter(name="flow").values_list(
        "version", flat=True
    )
    assert list(ordered) == ["2.10.0", "2.9.0"]


def test_explicit_default_wins_over_the_highest_version(db, tmp_path):
    """default: true on 2.9.0 beats 2.10.0; removing it moves the default."""
    path = write(tmp_path, "v2_9.yaml", spec_dict(version="2.9.0", default=True))
    write(tmp_path, "v2_10.yaml", spec_dict(version="2.10.0"))
    sync(tmp_path)
    assert default_version() == "2.9.0"

    write(tmp_path, path.name, spec_dict(version="2.9.0"))
    sync(tmp_path)
    assert default_version() == "2.10.0"
    events = AuditEvent.objects.filter(action="definition.default_changed")
    assert events.count() == 2


def test_deprecated_version_is_never_the_default(db, tmp_path):
    """The highest version, deprecated, leaves the default on the one below."""
    write(tmp_path, "v2_9.yaml", spec_dict(version="2.9.0"))
    write(tmp_path, "v2_10.yaml", spec_dict(version="2.10.0", deprecated=True))
    sync(tmp_path)
    assert default_version() == "2.9.0"


def test_every_version_deprecated_leaves_no_default(db, tmp_path):
    """With every version deprecated there is no default to start."""
    write(tmp_path, "v1.yaml", spec_dict(deprecated=True))
    report = sync(tmp_path)
    assert default_version() is None
    assert report.defaults["defs.flow"].startswith("(none")


def test_deprecating_a_used_published_version_needs_no_bump(db, tmp_path):
    """Lifecycle flags are not contract: deprecate 2.10.0 while a task uses it."""
    write(tmp_path, "v2_9.yaml", spec_dict(version="2.9.0"))
    path = write(tmp_path, "v2_10.yaml", spec_dict(version="2.10.0"))
    sync(tmp_path)
    task = start("defs.flow", {"order_id": "o-1"})
    assert task.definition.version == "2.10.0"
    before = WorkflowDefinition.objects.get(version="2.10.0").spec_hash

    write(tmp_path, path.name, spec_dict(version="2.10.0", deprecated=True))
    report = sync(tmp_path)
    assert report.flags_changed == ["defs.flow@2.10.0 deprecated"]
    deprecated = WorkflowDefinition.objects.get(version="2.10.0")
    assert deprecated.deprecated is True
    assert deprecated.is_default is False
    assert deprecated.spec_hash == before
    assert default_version() == "2.9.0"
    assert AuditEvent.objects.filter(action="definition.deprecated").count() == 1

    write(tmp_path, path.name, spec_dict(version="2.10.0"))
    report = sync(tmp_path)
    assert report.flags_changed == ["defs.flow@2.10.0 undeprecated"]
    assert default_version() == "2.10.0"


def test_sync_creates_missing_namespace_and_audits_publication(db, tmp_path):
    """A new namespace is created; each new version gets a published event."""
    sync(write(tmp_path, "flow.yaml", spec_dict(namespace="brand_new")))
    definition = WorkflowDefinition.objects.get(namespace__slug="brand_new")
    event = AuditEvent.objects.get(action="definition.published")
    assert event.object_id == str(definition.uuid)
    assert event.namespace == definition.namespace
    assert [s.name for s in definition.step_templates.all()] == [
        "fetch",
        "check",
        "store",
    ]


# --- model-level immutability -------------------------------------------------


def test_used_definition_refuses_contract_changes(synced):
    """Saving a used version with another schema or hash raises."""
    task = start("testing.chain", {"start": 1})
    definition = WorkflowDefinition.objects.get(pk=task.definition_id)

    definition.context_schema = {"type": "object", "required": ["start"]}
    with pytest.raises(ImmutableDefinitionError, match="context_schema"):
        definition.save()

    definition.refresh_from_db()
    definition.spec_hash = "0" * 64
    with pytest.raises(ImmutableDefinitionError, match="spec_hash"):
        definition.save()


def test_used_definition_still_accepts_lifecycle_changes(synced):
    """Deprecating a used version through the model is allowed."""
    task = start("testing.chain", {"start": 1})
    definition = WorkflowDefinition.objects.get(pk=task.definition_id)
    definition.is_default = False
    definition.deprecated = True
    definition.save()
    definition.refresh_from_db()
    assert definition.deprecated is True


def test_used_definition_refuses_step_template_save_and_delete(synced):
    """A used version's step templates can be neither changed nor deleted."""
    task = start("testing.chain", {"start": 1})
    template = StepTemplate.objects.get(definition=task.definition, name="second")
    template.retry_limit = 9
    with pytest.raises(ImmutableDefinitionError, match="'second' cannot change"):
        template.save()
    with pytest.raises(ImmutableDefinitionError, match="cannot be deleted"):
        template.delete()
    template.refresh_from_db()
    assert template.retry_limit == 3
    added = StepTemplate(
        definition=task.definition, name="extra", handler="tests.handlers.Add"
    )
    with pytest.raises(ImmutableDefinitionError):
        added.save()


def test_used_definition_and_its_templates_cannot_be_bulk_deleted(synced):
    """Queryset deletes skip delete(); the PROTECT foreign keys still refuse."""
    task = start("testing.chain", {"start": 1})
    with pytest.raises(ProtectedError):
        StepTemplate.objects.filter(definition=task.definition).delete()
    with pytest.raises(ProtectedError):
        WorkflowDefinition.objects.filter(pk=task.definition_id).delete()
    assert StepTemplate.objects.filter(definition=task.definition).count() == 3


def test_unused_definition_can_still_be_edited(synced):
    """Before any task ran on it, a version and its steps may be corrected."""
    definition = WorkflowDefinition.objects.get(namespace__slug="testing", name="chain")
    definition.context_schema = {"type": "object"}
    definition.save()
    template = definition.step_templates.get(name="second")
    template.retry_limit = 4
    template.save()
    template.refresh_from_db()
    assert template.retry_limit == 4
