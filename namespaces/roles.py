"""Team roles and the actions each one allows, written once.

| role        | allows |
|-------------|--------|
| viewer      | see the namespace's workflows, tasks, steps and audit trail |
| operator    | view; start, cancel, retry and resolve tasks and steps |
| approver    | view; approve or reject approval steps (never their own requests) |
| maintainer  | view; manage definitions, cross-team grants and team membership |
| pii_viewer  | view; see personal data unmasked |
"""

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    APPROVER = "approver", "Approver"
    MAINTAINER = "maintainer", "Maintainer"
    PII_VIEWER = "pii_viewer", "PII viewer"


class Action(models.TextChoices):
    VIEW = "view", "view"
    START = "start", "start tasks"
    CANCEL = "cancel", "cancel tasks"
    RETRY = "retry", "retry steps"
    RESOLVE = "resolve", "resolve steps manually"
    APPROVE = "approve", "approve or reject"
    MANAGE_DEFINITIONS = "manage_definitions", "manage workflow definitions"
    MANAGE_GRANTS = "manage_grants", "manage cross-team grants"
    MANAGE_MEMBERS = "manage_members", "manage team membership"
    VIEW_PII = "view_pii", "see personal data"


ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({Action.VIEW}),
    Role.OPERATOR: frozenset(
        {Action.VIEW, Action.START, Action.CANCEL, Action.RETRY, Action.RESOLVE}
    ),
    Role.APPROVER: frozenset({Action.VIEW, Action.APPROVE}),
    Role.MAINTAINER: frozenset(
        {
            Action.VIEW,
            Action.MANAGE_DEFINITIONS,
            Action.MANAGE_GRANTS,
            Action.MANAGE_MEMBERS,
        }
    ),
    Role.PII_VIEWER: frozenset({Action.VIEW, Action.VIEW_PII}),
}


def permission_codename(role: str) -> str:
    """Return the guardian object-permission codename for ``role``."""
    return f"role_{role}"


def roles_allowing(action: str) -> list[str]:
    """Return the roles whose holders may perform ``action``."""
    return [role for role, actions in ROLE_ACTIONS.items() if action in actions]
