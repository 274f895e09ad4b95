"""Test data helpers."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from tasker_project.core.actors import Actor
from workflows.models import Step, Task
from workflows.services import task_start


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")


def start(
    workflow: str = "testing.chain",
    context: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Task:
    """Start a task of ``namespace.name`` as the test system actor."""
    namespace, name = workflow.split(".")
    return task_start(
        namespace=namespace,
        workflow=name,
        context=context if context is not None else {"start": 1},
        actor=kwargs.pop("actor", Actor.system_actor("test")),
        **kwargs,
    )


def step_of(task: Task, name: str) -> Step:
    """Return the task's step called ``name``, fresh from the database."""
    return Step.objects.select_related("template", "task__namespace").get(
        task=task, name=name
    )
