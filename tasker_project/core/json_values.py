"""The one check for values that are stored as JSON or text.

Every entry point (API bodies, admin forms, ``start_task --context``, YAML
definitions) and the services behind them ask :func:`json_value_errors`
whether a value can be stored, so they agree on what is refused and say it
in the same words. Refused is what PostgreSQL's ``jsonb`` or ``text``, or
``json.dumps``/``json.loads``, cannot take and give back unchanged:

- a NUL character (``\\u0000``) in a string or a key: PostgreSQL refuses it
  in ``jsonb`` and ``text``;
- a lone surrogate (``\\ud800``): not Unicode, so it cannot be encoded as
  UTF-8 for ``text`` and ``jsonb`` rejects its escape;
- NaN and infinities (``1e999`` parses as infinity): ``json.dumps`` writes
  non-standard ``NaN``/``Infinity``, which no JSON column accepts;
- integers of more than :data:`MAX_INT_DIGITS` digits: Python refuses to
  turn them into text (``sys.set_int_max_str_digits``);
- keys that are not strings (YAML's ``1:`` or ``2024-01-01:``): JSON turns
  them into strings, so the value would not come back as it went in;
- anything that is not a JSON value (a YAML date, ``!!binary``, a set);
- nesting deeper than :data:`MAX_DEPTH` levels, which exhausts the
  recursion of every later reader, and more than :data:`MAX_VALUES` values
  in all (a YAML alias "billion laughs" expands to far more when written).

Problems are keyed by dotted path (``context.customer.name``), like every
other field error; :func:`ensure_storable` raises them as one
:class:`~tasker_project.core.errors.InvalidJSON`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from tasker_project.core.errors import InvalidJSON

MAX_DEPTH = 64
# Python's default limit on int <-> str conversion (PEP 651 / CVE-2020-10735).
MAX_INT_DIGITS = 4300
# More values than any body the API accepts (256 KiB) can hold.
MAX_VALUES = 1_000_000
# Report this many paths at most: a list of 100,000 NULs needs one message.
MAX_PROBLEMS = 50

_INT_LIMIT = 10**MAX_INT_DIGITS
_NUL = "\x00"
_TOO_MANY = "too many values"  # a marker, compared by identity


def json_value_errors(value: Any, *, field: str) -> dict[str, list[str]]:
    """Return why ``value`` cannot be stored, by dotted path under ``field``.

    An empty ``field`` gives paths relative to ``value`` (``$`` for the
    value itself). Empty when the value can be stored.
    """
    problems: dict[str, list[str]] = {}
    budget = [MAX_VALUES]
    for path, message in _problems(value, field, 0, budget):
        if message is _TOO_MANY:
            # Name the outermost part that holds too much, not a leaf in it.
            head = field or path.partition(".")[0]
            return {head or "$": [f"Holds more than {MAX_VALUES} values."]}
        problems.setdefault(path or "$", []).append(message)
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems


def storable_errors(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return the problems of several fields at once (``{field: value}``)."""
    problems: dict[str, list[str]] = {}
    for field, value in values.items():
        problems |= json_value_errors(value, field=field)
    return problems


def ensure_storable(values: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidJSON` naming each field of ``values`` not storable."""
    problems = storable_errors(values)
    if problems:
        summary = "; ".join(
            f"{path}: {' '.join(messages).rstrip('.')}"
            for path, messages in problems.items()
        )
        raise InvalidJSON(f"cannot be stored: {summary}", fields=problems)


def text_problem(text: str, *, where: str = "") -> str | None:
    """Return why the string ``text`` cannot be stored, or None.

    ``where`` ("in keys") is put into the message.
    """
    where = f" {where}" if where else ""
    if _NUL in text:
        return f"Null characters are not allowed{where} (\\u0000)."
    surrogate = _first_surrogate(text)
    if surrogate is not None:
        return (
            f"Lone surrogates are not allowed{where} (U+{ord(surrogate):04X}): "
            "not valid Unicode."
        )
    return None


def path_segment(key: Any) -> str:
    """Return ``key`` as a path segment that can itself be shown and stored."""
    text = str(key)
    if text_problem(text) is None:
        return text
    escaped = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return escaped.replace(_NUL, "\\u0000")


def _first_surrogate(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _join(path: str, key: Any) -> str:
    segment = path_segment(key)
    return f"{path}.{segment}" if path else segment


def _problems(
    value: Any, path: str, depth: int, budget: list[int]
) -> Iterator[tuple[str, str]]:
    """Yield ``(path, message)`` for each problem, depth first.

    ``budget`` holds how many more values may be visited; below zero the
    walk stops (the caller reports the value as too large).
    """
    budget[0] -= 1
    if budget[0] < 0:
        yield path, _TOO_MANY
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            yield path, problem
    elif isinstance(value, int):
        if abs(value) >= _INT_LIMIT:
            yield path, f"Integers may have at most {MAX_INT_DIGITS} digits."
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path, "Numbers must be finite."
    elif isinstance(value, dict | list | tuple):
        if depth >= MAX_DEPTH:
            yield path, f"Nested deeper than {MAX_DEPTH} levels."
            return
        if isinstance(value, dict):
            for key, item in value.items():
                sub = _join(path, key)
                if not isinstance(key, str):
                    yield sub, f"Keys must be strings, not {_kind(key)}."
                    continue
                problem = text_problem(key, where="in keys")
                if problem is not None:
                    yield sub, problem
                yield from _problems(item, sub, depth + 1, budget)
        else:
            for index, item in enumerate(value):
                yield from _problems(item, _join(path, index), depth + 1, budget)
    else:
        yield path, f"Not a JSON value: {_kind(value)}."


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
