"""Settings read from the environment refuse values they do not know."""

from __future__ import annotations

import pytest


def test_an_unknown_worker_commit_level_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    from tasker_project.settings.base import _synchronous_commit

    assert _synchronous_commit("off") == "off"
    with pytest.raises(ImproperlyConfigured, match="TASKER_WORKER_SYNCHRONOUS_COMMIT"):
        _synchronous_commit("sometimes")
