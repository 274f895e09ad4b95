"""Rows scoped to the namespaces a user may act in, for selectors and the admin.

A row belongs to a namespace through a path of foreign keys (``namespace``,
``task__namespace``; ``""`` for a namespace itself). :func:`visible` scopes
a selector's queryset for a user; inside an admin request, :func:`scoped`,
:func:`namespace_ids` and :func:`may` answer from one cache on the request,
read once per action: a changelist asks once per row, and roles do not
change within one request. Superusers see every row.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from namespaces.models import Namespace
from namespaces.permissions import namespace_ids_for, namespaces_for
from namespaces.roles import Action

# request.__dict__ key of {action: {namespace id: slug}}.
_REQUEST_CACHE = "_tasker_namespaces"


def scope(queryset: QuerySet, ids: Any, *paths: str) -> QuerySet:
    """Keep the rows whose namespace, at any of ``paths``, is one of ``ids``."""
    return queryset.filter(
        functools.reduce(
            operator.or_,
            (Q(**{f"{path}__in" if path else "pk__in": ids}) for path in paths),
        )
    )


def visible(
    queryset: QuerySet, *, user: Any, path: str = "namespace", action: str = Action.VIEW
) -> QuerySet:
    """Keep the rows whose namespace (at ``path``) lets ``user`` do ``action``.

    Filters by the namespace ids read once per request (see
    ``namespaces.permissions.roles_snapshot``); a superuser sees every row.
    """
    if user is not None and user.is_active and user.is_superuser:
        return queryset
    return scope(queryset, namespace_ids_for(user, action), path)


def _request_namespaces(request: HttpRequest, action: str) -> dict[int, str]:
    """Return {id: slug} of the namespaces where the user may ``action``, cached."""
    cache: dict[str, dict[int, str]] = request.__dict__.setdefault(_REQUEST_CACHE, {})
    if action not in cache:
        cache[action] = dict(
            namespaces_for(request.user, action).values_list("pk", "slug")
        )
    return cache[action]


def namespace_ids(request: HttpRequest, action: str = Action.VIEW) -> set[int]:
    """Return the ids of the namespaces where the request's user may ``action``."""
    return set(_request_namespaces(request, action))


def namespace_slugs(request: HttpRequest, action: str = Action.VIEW) -> frozenset[str]:
    """Return the slugs of the namespaces where the request's user may ``action``."""
    return frozenset(_request_namespaces(request, action).values())


def may(request: HttpRequest, namespace: Namespace | int | None, action: str) -> bool:
    """Return whether the user may ``action`` in ``namespace`` (object or id)."""
    if namespace is None:
        return False
    if request.user.is_superuser:
        return request.user.is_active
    pk = namespace if isinstance(namespace, int) else namespace.pk
    return pk in _request_namespaces(request, action)


def scoped(
    request: HttpRequest, queryset: QuerySet, *paths: str, action: str = Action.VIEW
) -> QuerySet:
    """Keep the rows of ``queryset`` whose namespace lets the user ``action``."""
    if request.user.is_superuser:
        return queryset
    return scope(queryset, namespace_ids(request, action), *paths)


def namespace_of(obj: Any, path: str) -> Namespace | None:
    """Follow ``path`` (``task__namespace``; ``""``: ``obj`` itself) to a namespace."""
    for attr in path.split("__") if path else ():
        obj = getattr(obj, attr, None)
        if obj is None:
            return None
    return obj


def namespace_id_of(obj: Model, path: str) -> int | None:
    """Return the id of ``obj``'s namespace at ``path`` without loading it."""
    if not path:
        return obj.pk
    *hops, last = path.split("__")
    owner: Any = obj
    for attr in hops:
        owner = getattr(owner, attr, None)
        if owner is None:
            return None
    return getattr(owner, f"{last}_id", None)
