"""Test data: factories for teams and their members, and task helpers.

Workflow definitions, their step templates, tasks and steps come from the
synced definition files (the ``synced`` fixture): ``start`` makes a task of
one, ``step_of`` reads back its step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import factory
from django.contrib.auth import get_user_model

from namespaces.models import Namespace
from namespaces.services import membership_grant, team_roles_ensure
from tasker_project.core.actors import Actor
from workflows.models import Step, Task
from workflows.services import task_start

SYSTEM = Actor.system_actor("test")


class UserFactory(factory.django.DjangoModelFactory):
    """A user; ``roles={namespace: [role, ...]}`` grants team roles, audited.

    The roles are granted through ``membership_grant`` by the test system
    actor, in the order given, as a maintainer granting them would.
    """

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")

    @factory.post_generation
    def roles(
        self,
        create: bool,
        extracted: Mapping[Namespace, Iterable[str]] | None,
        **kwargs: Any,
    ) -> None:
        for namespace, names in (extracted or {}).items():
            for role in names:
                membership_grant(
                    namespace=namespace, user=self, role=role, actor=SYSTEM
                )


class NamespaceFactory(factory.django.DjangoModelFactory):
    """A namespace (team) with its five role groups.

    A slug that exists already (one of the synced definition files' teams)
    returns that namespace, with its role groups ensured.
    """

    class Meta:
        model = Namespace
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"team{n}")
    name = factory.LazyAttribute(lambda ns: ns.slug.replace("_", " ").title())

    @factory.post_generation
    def team_roles(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            team_roles_ensure(namespace=self)


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
        actor=kwargs.pop("actor", SYSTEM),
        **kwargs,
    )


def step_of(task: Task, name: str) -> Step:
    """Return the task's step called ``name``, fresh from the database."""
    return Step.objects.select_related("template", "task__namespace").get(
        task=task, name=name
    )
