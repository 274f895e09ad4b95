"""The one check for values stored as JSON or text (``core.json_values``).

What it refuses was found by experiment against PostgreSQL 15 (``jsonb``
and ``text``) and ``json.dumps``; what it accepts must come back from the
database as it went in, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import datetime
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from audit.trail import audit_record
from audit.verify import verify
from tasker_project.core.actors import Actor
from tasker_project.core.errors import InvalidJSON
from tasker_project.core.json_values import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_VALUES,
    ensure_storable,
    json_value_errors,
)


def nested(levels: int, leaf: Any = 1) -> Any:
    """Return ``leaf`` inside ``levels`` lists."""
    for _ in range(levels):
        leaf = [leaf]
    return leaf


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"name": "Ada\x00"}, "context.name", "Null characters are not allowed"),
        ({"a\x00": 1}, "context.a\\u0000", "Null characters are not allowed in keys"),
        ({"name": "\ud800"}, "context.name", "Lone surrogates are not allowed"),
        ({"\udcff": 1}, "context.\\udcff", "Lone surrogates are not allowed in keys"),
        ({"n": math.nan}, "context.n", "Numbers must be finite"),
        ({"n": [-math.inf]}, "context.n.0", "Numbers must be finite"),
        ({"n": 10**MAX_INT_DIGITS}, "context.n", "Integers may have at most"),
        ({1: "one"}, "context.1", "Keys must be strings, not int"),
        ({"on": datetime.date(2024, 1, 1)}, "context.on", "Not a JSON value: date"),
        ({"raw": b"bytes"}, "context.raw", "Not a JSON value: bytes"),
        ({"tags": {"a", "b"}}, "context.tags", "Not a JSON value: set"),
        ({"x": nested(MAX_DEPTH)}, "context.x" + ".0" * (MAX_DEPTH - 1), "Nested"),
    ],
    ids=[
        "nul",
        "nul-key",
        "surrogate",
        "surrogate-key",
        "nan",
        "infinity",
        "huge-int",
        "int-key",
        "yaml-date",
        "bytes",
        "set",
        "deep",
    ],
)
def test_unstorable_values_are_named_by_path(value, path, message):
    """Each value jsonb, text or json.dumps cannot take is refused at its path."""
    problems = json_value_errors(value, field="context")
    assert list(problems) == [path], problems
    assert problems[path][0].startswith(message), problems


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"emoji": "😀", "rtl": "\u202e", "tab": "\t\r\n", "": ""},
        {"big": 10**MAX_INT_DIGITS - 1, "neg": -(10**400), "tiny": 5e-324},
        {"max": 1.7976931348623157e308, "zero": -0.0, "bool": True, "none": None},
        {"deep": nested(MAX_DEPTH - 1)},
        {"tuple": ("a", 1)},
    ],
    ids=["empty", "unicode", "big-numbers", "edge-floats", "deep", "tuple"],
)
def test_storable_values_pass(value):
    assert json_value_errors(value, field="context") == {}


def test_problems_of_several_fields_are_raised_together():
    """One error, code invalid_json, naming every field and path."""
    with pytest.raises(InvalidJSON) as info:
        ensure_storable({"context": {"a": math.inf}, "reason": "x\x00", "tags": []})
    assert info.value.code == "invalid_json"
    assert set(info.value.fields) == {"context.a", "reason"}
    assert "context.a" in info.value.message


def test_a_huge_value_is_refused_without_walking_it_all():
    """A YAML alias bomb (10⁹ values from a few lines) is refused as too large."""
    bomb: Any = ["x"] * 10
    for _ in range(8):
        bomb = [bomb] * 10
    assert json_value_errors(bomb, field="handler_config") == {
        "handler_config": [f"Holds more than {MAX_VALUES} values."]
    }


def test_many_problems_are_reported_up_to_a_limit():
    assert len(json_value_errors(["\x00"] * 10_000, field="")) == 50


# --- accepted values come back unchanged -------------------------------------------

# Text of every code point, lone surrogates and NUL included: the check must
# refuse what the database cannot take, not what Hypothesis avoids.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**4299), 2**63, -(2**63) - 1]),
    st.floats(),
    ANY_TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(ANY_TEXT, children, max_size=4),
    ),
    max_leaves=12,
)


def same_json(left: Any, right: Any) -> bool:
    """Return whether two values are equal as JSON (numbers as decimals).

    PostgreSQL's jsonb keeps numbers as ``numeric``: ``1e16`` comes back as
    the integer ``10000000000000000``, the same JSON number.
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return Decimal(repr(left)) == Decimal(repr(right))
    if isinstance(left, list | tuple) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            same_json(value, right[key]) for key, value in left.items()
        )
    return type(left) is type(right) and left == right


@pytest.mark.django_db
@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=VALUES)
def test_what_the_check_accepts_the_database_stores_and_returns(value):
    """Accepted ⇒ written to a JSON column and read back equal, on either database."""
    if json_value_errors(value, field="metadata"):
        return
    event = audit_record(
        actor=Actor.system_actor("test"),
        action="test",
        object_type="test",
        object_id="1",
        metadata={"v": value},
    )
    stored = AuditEvent.objects.get(pk=event.pk).metadata["v"]
    assert same_json(value, stored), (value, stored)
    # The hash made from the value in memory matches the row read back.
    verify()
