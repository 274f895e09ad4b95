"""Who performs an action: a user, or the system (worker, sweeper, CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    """The acting party every mutating service takes explicitly."""

    user: Any = None
    system: str = ""

    @property
    def label(self) -> str:
        """Return a human-readable name for transition and audit rows."""
        if self.user is not None:
            return str(self.user.get_username())
        return f"system:{self.system or 'engine'}"

    @classmethod
    def of(cls, user: Any) -> Actor:
        """Return the actor for an authenticated ``user``."""
        return cls(user=user)

    @classmethod
    def system_actor(cls, name: str) -> Actor:
        """Return a system actor (``worker``, ``sweeper``, ``cli`` …)."""
        return cls(system=name)


WORKER = Actor.system_actor("worker")
SWEEPER = Actor.system_actor("sweeper")
SUBWORKFLOW = Actor.system_actor("subworkflow")
SYNC = Actor.system_actor("sync")
AUTH = Actor.system_actor("auth")
