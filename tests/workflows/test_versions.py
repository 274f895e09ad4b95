"""Several versions of one workflow side by side: defaults, pins, deprecation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tasker_project.core.actors import Actor
from tasker_project.core.errors import DefinitionDeprecated
from tests.factories import start, step_of
from tests.workflows.helpers import run_ready
from workflows.definitions.loader import load_paths
from workflows.definitions.sync import definitions_sync
from workflows.engine.executor import execute_step
from workflows.engine.states import TaskStatus
from workflows.models import WorkflowDefinition

SYSTEM = Actor.system_actor("test")


def _write(tmp: Path, version: str, steps: list[str], **flags) -> Path:
    doc = {
        "namespace": "versioned",
        "name": "flow",
        "version": version,
        "context_schema": {"type": "object"},
        "example_context": {"start": 1},
        "steps": [
            {
                "name": name,
                "handler": "tests.handlers.Add",
                **({"depends_on": [steps[i - 1]]} if i else {}),
            }
            for i, name in enumerate(steps)
        ],
        **flags,
    }
    path = tmp / f"flow-{version}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _sync(*paths: Path) -> None:
    definitions_sync(specs=load_paths(paths), actor=SYSTEM)


def _default() -> str:
    return WorkflowDefinition.objects.get(
        namespace__slug="versioned", is_default=True
    ).version


@pytest.mark.django_db
def test_in_flight_task_keeps_its_version_across_a_new_default(tmp_path):
    v1 = _write(tmp_path, "1.0.0", ["a", "b"])
    _sync(v1)
    old = start("versioned.flow", {"start": 1})
    execute_step(step_of(old, "a").pk)

    v2 = _write(tmp_path, "1.1.0", ["a", "b", "c"])
    _sync(v1, v2)
    assert _default() == "1.1.0"

    old = run_ready(old)
    assert old.status == TaskStatus.COMPLETE
    assert old.definition.version == "1.0.0"
    assert sorted(old.steps.values_list("name", flat=True)) == ["a", "b"]

    new = run_ready(start("versioned.flow", {"start": 1}))
    assert new.definition.version == "1.1.0"
    assert new.steps.count() == 3

    pinned = start("versioned.flow", {"start": 1}, version="1.0.0")
    assert pinned.definition.version == "1.0.0"


@pytest.mark.django_db
def test_deprecated_version_refuses_new_starts_naming_the_default(tmp_path):
    v1 = _write(tmp_path, "1.0.0", ["a"])
    v2 = _write(tmp_path, "1.1.0", ["a", "b"])
    _sync(v1, v2)
    running = start("versioned.flow", {"start": 1}, version="1.0.0")

    _sync(_write(tmp_path, "1.0.0", ["a"], deprecated=True), v2)
    with pytest.raises(
        DefinitionDeprecated, match=r"default version 1\.1\.0"
    ) as caught:
        start("versioned.flow", {"start": 1}, version="1.0.0")
    assert "version" in caught.value.fields
    # The task already running on the deprecated version finishes on it.
    assert run_ready(running).status == TaskStatus.COMPLETE


@pytest.mark.django_db
def test_pinned_default_survives_a_sync_of_a_newer_file_alone(tmp_path):
    v1 = _write(tmp_path, "1.0.0", ["a"], default=True)
    _sync(v1)
    _sync(_write(tmp_path, "2.0.0", ["a", "b"]))
    assert _default() == "1.0.0"
    # Removing the pin from the file hands the default to the highest version.
    _sync(_write(tmp_path, "1.0.0", ["a"]))
    assert _default() == "2.0.0"


@pytest.mark.django_db
def test_versions_compare_as_numbers_not_strings(tmp_path):
    _sync(_write(tmp_path, "2.9.0", ["a"]), _write(tmp_path, "2.10.0", ["a"]))
    assert _default() == "2.10.0"
