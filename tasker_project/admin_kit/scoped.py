"""Admin pages scoped to the namespaces where the user holds a role."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from namespaces.models import Namespace
from namespaces.roles import Action
from namespaces.scoping import may, namespace_id_of, namespace_ids, namespace_of, scoped
from tasker_project.admin_kit.redaction import RedactingAdminMixin


class ScopedAdminMixin(RedactingAdminMixin):
    """Scope an admin to the namespaces where the user holds a role.

    :attr:`namespace_path` leads from the model to its namespace (``""``
    for a namespace itself; a tuple when a row is seen from either of two
    namespaces). Superusers see everything; other staff hold no Django
    model permissions, so module and view permission come from their team
    roles, and an object of a namespace they cannot see is simply not in
    the queryset: its URL answers like a missing object. Changes go through
    the services, which check the role again and audit refusals.

    An admin whose rows belong to teams some other way overrides
    :meth:`scope_queryset`, :meth:`sees_any` and :meth:`sees`.
    """

    namespace_path: str | tuple[str, ...] = "namespace"
    # Search fields (by their last name) only superusers search: free text
    # that may hold personal data the page shows masked.
    private_search_fields: frozenset[str] = frozenset({"reason"})

    def namespace_paths(self) -> tuple[str, ...]:
        """Return :attr:`namespace_path` as a tuple."""
        path = self.namespace_path
        return (path,) if isinstance(path, str) else path

    def namespace_of(self, obj: Model) -> Namespace | None:
        """Return the namespace ``obj`` belongs to (by the first path)."""
        return namespace_of(obj, self.namespace_paths()[0])

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Return the part of ``queryset`` that ``request.user`` may see."""
        return scoped(request, queryset, *self.namespace_paths())

    def sees_any(self, request: HttpRequest) -> bool:
        """Return whether a user who is not a superuser may see any row at all."""
        return bool(namespace_ids(request, Action.VIEW))

    def sees(self, request: HttpRequest, obj: Model) -> bool:
        """Return whether a user who is not a superuser may see ``obj``."""
        return any(
            may(request, namespace_id_of(obj, path), Action.VIEW)
            for path in self.namespace_paths()
        )

    def may_act(self, request: HttpRequest, action: str, obj: Any = None) -> bool:
        """Return whether the user may ``action`` in ``obj``'s namespace (or any)."""
        if obj is not None:
            return may(request, namespace_id_of(obj, self.namespace_paths()[0]), action)
        return request.user.is_superuser or bool(namespace_ids(request, action))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope_queryset(request, super().get_queryset(request))  # type: ignore[misc]

    def get_search_fields(self, request: HttpRequest) -> Any:
        """Search :attr:`private_search_fields` for superusers only.

        A reason may hold personal data that the page shows masked; a match
        on it would still tell the user the text is there.
        """
        fields = super().get_search_fields(request)  # type: ignore[misc]
        if request.user.is_superuser or not self.private_search_fields:
            return fields
        private = self.private_search_fields
        return [f for f in fields if f.lstrip("=^@").split("__")[-1] not in private]

    def has_module_permission(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return super().has_module_permission(request)  # type: ignore[misc]
        return self.sees_any(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)  # type: ignore[misc]
        if obj is None:
            return self.sees_any(request)
        return self.sees(request, obj)


class ReadOnlyAdminMixin:
    """View-only admin: no add, change or delete through the admin forms.

    Used for engine-owned rows (runs are changed only by services) and for
    append-only history (transitions, audit events), which nothing may change.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NamespaceFilter(admin.RelatedOnlyFieldListFilter):
    """Filter by namespace, offering only the namespaces of visible rows."""
