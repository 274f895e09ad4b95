"""Redact personal data for readers without the ``pii_viewer`` role.

Every output path (API, admin, ``task_status``) renders a task's data
through one :class:`Redactor`, built once per viewer and task by
:func:`task_redactor` (or :func:`context_redactor` for list pages). Each
edge decides whether the viewer holds ``pii_viewer`` in the task's
namespace with the role check it already makes (the API's per-request
role snapshot, the admin's per-request cache); the CLI asks ``--show-pii``.
It knows two things:

- **the personal keys**: the well-known keys below plus every property the
  definition's context schema marks ``x-pii: true``. A definition has one
  schema, so its marks hold at any depth of the context, of every step's
  results and of approval requests: a key that is personal in the context
  is personal wherever a step passes it on.
- **the personal values**: every string of more than two characters found
  under a personal key in the task's context, its steps' results and
  approval requests. Free text (an error message, a traceback, a
  transition or audit reason) is scrubbed of these and of anything shaped
  like an e-mail address, because handlers and people copy data into
  prose.

A viewer allowed to see personal data gets everything unchanged.

Personal values are stored encrypted (:mod:`audit.crypto`): the redactor
opens the tokens with the task's data key before it masks, so every output
path that renders through it shows plaintext to a ``pii_viewer``, masks to
anyone else, and ``[erased]`` to everyone once the subject is erased.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from audit.crypto import ERASED, NO_KEY, Box, box_for, box_from_row
from workflows.models import Step

PII_KEYS = frozenset(
    {
        "email",
        "customer_email",
        "to",
        "name",
        "customer_name",
        "full_name",
        "first_name",
        "last_name",
        "phone",
        "address",
        "agent_notes",
    }
)
MASK = "***"
# A value this short ("Al", "NY") would mask unrelated words in free text.
MIN_VALUE_LENGTH = 3
# Shaped like an address; deliberately wider than RFC 5322's local part is
# narrow: a false positive in an error message costs nothing.
EMAIL_PATTERN = r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+"
# Keys of a step error that are codes, not prose.
ERROR_CODE_KEYS = frozenset({"code", "class", "attempt"})


# ``x-data-classification`` values that make a property personal.
PERSONAL_CLASSIFICATIONS = ("pii", "confidential")


def _marked_personal(sub: dict[str, Any]) -> bool:
    if sub.get("x-pii") is True:
        return True
    classification = sub.get("x-data-classification")
    return isinstance(classification, str) and classification.lower().startswith(
        PERSONAL_CLASSIFICATIONS
    )


def schema_pii_keys(schema: Any) -> set[str]:
    """Return property names the schema marks personal, at any depth.

    Marked means ``x-pii: true`` or an ``x-data-classification`` of
    ``pii-*`` (``pii-contact``, ``pii-financial``, …) or ``confidential``.
    """
    keys: set[str] = set()
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict) and _marked_personal(sub):
                keys.add(name)
            keys |= schema_pii_keys(sub)
        for key in ("items", "additionalProperties"):
            keys |= schema_pii_keys(schema.get(key))
    return keys


def definition_pii_keys(definition: Any) -> frozenset[str]:
    """Return the personal keys of a definition's tasks: built-in plus ``x-pii``."""
    schema = getattr(definition, "context_schema", None)
    return PII_KEYS | frozenset(schema_pii_keys(schema)) if schema else PII_KEYS


def mask_value(value: Any) -> Any:
    """Return a masked stand-in: an e-mail keeps its first letter and domain.

    The domain stays readable because operators need it (a bouncing domain,
    a typo in it) and it names a provider, not a person.
    """
    if value == ERASED:
        return value
    if isinstance(value, str) and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}{MASK}@{domain}"
    if value is None or value == "":
        return value
    return MASK


def _mask_all(value: Any) -> Any:
    """Mask every leaf of ``value``: all of it sits under a personal key."""
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(item) for item in value]
    return mask_value(value)


def pii_values(sources: Iterable[Any], keys: frozenset[str]) -> frozenset[str]:
    """Return the strings found under ``keys`` in ``sources``, any depth."""
    found: set[str] = set()

    def collect(value: Any, personal: bool) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                collect(v, personal or k in keys)
        elif isinstance(value, list | tuple):
            for item in value:
                collect(item, personal)
        elif personal and isinstance(value, str):
            text = value.strip()
            if len(text) >= MIN_VALUE_LENGTH:
                found.add(text)

    for source in sources:
        collect(source, False)
    return frozenset(found)


@dataclass(frozen=True)
class Redactor:
    """Render one task's data for one viewer: unchanged, or with PII masked.

    Build it with :func:`task_redactor`; a bare
    ``Redactor()`` masks the built-in keys and e-mail addresses only, the
    safe default where no task is known.
    """

    reveal: bool = False
    keys: frozenset[str] = PII_KEYS
    values: frozenset[str] = field(default_factory=frozenset)
    # Opens the stored tokens; the default looks a token's key up by its id.
    box: Box = NO_KEY

    def learn(self, *sources: Any) -> Redactor:
        """Return a redactor that also knows the personal values in ``sources``.

        For text that comes with its own data (an audit event's metadata)
        and belongs to no task, or to one known only partly.
        """
        if self.reveal:
            return self
        found = pii_values([self.box.open(s) for s in sources], self.keys)
        if found <= self.values:
            return self
        return Redactor(
            reveal=False, keys=self.keys, values=self.values | found, box=self.box
        )

    def data(self, value: Any) -> Any:
        """Return stored data opened, with personal keys masked and strings scrubbed."""
        value = self.box.open(value)
        if self.reveal:
            return value
        return self._data(value)

    def _data(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: _mask_all(v) if k in self.keys else self._data(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._data(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def text(self, value: Any) -> Any:
        """Return free text with e-mail addresses and known personal values masked.

        Anything that is not a string (``None``, a number) passes unchanged.
        """
        if self.reveal or not isinstance(value, str) or not value:
            return value
        if not self.values and "@" not in value:
            return value
        return self._pattern.sub(lambda match: mask_value(match.group(0)), value)

    def error(self, error: Any) -> Any:
        """Return a step error with its prose (message, traceback) scrubbed."""
        error = self.box.open(error)
        if self.reveal or not isinstance(error, dict):
            return error
        return {
            k: v if k in ERROR_CODE_KEYS else self._data(v) for k, v in error.items()
        }

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        """Compile one pattern: e-mails first, then known values, longest first.

        A value is matched as a whole word where it starts or ends with a
        word character, so the name "Ann" leaves "Annual" alone.
        """
        parts = [EMAIL_PATTERN]
        for value in sorted(self.values, key=len, reverse=True):
            escaped = re.escape(value)
            if re.match(r"\w", value):
                escaped = rf"(?<!\w){escaped}"
            if re.search(r"\w$", value):
                escaped = rf"{escaped}(?!\w)"
            parts.append(escaped)
        return re.compile("|".join(parts), re.IGNORECASE)


REVEAL = Redactor(reveal=True)


def task_box(task: Any) -> Box:
    """Return the box of ``task``'s data key (joined if selected, else cached)."""
    key_id = getattr(task, "data_key_id", None)
    if key_id is None:
        return NO_KEY
    cached = getattr(task, "_state", None)
    row = cached.fields_cache.get("data_key") if cached is not None else None
    if row is not None:
        return box_from_row(row.pk, row.wrapped, row.master_id)
    return box_for(key_id)


def subject_of(context: Any, keys: frozenset[str]) -> str | None:
    """Return the e-mail a context is about: the first under a personal key.

    ``customer_email`` and ``email`` are preferred; a context that names no
    e-mail address has no subject (its key cannot be found by one).
    """
    if not isinstance(context, dict):
        return None
    for name in ("customer_email", "email"):
        value = context.get(name)
        if isinstance(value, str) and re.fullmatch(EMAIL_PATTERN, value.strip()):
            return value.strip()
    for value in pii_values([context], keys):
        if re.fullmatch(EMAIL_PATTERN, value):
            return value
    return None


def task_redactor(
    task: Any, *, reveal: bool, steps: Iterable[Any] | None = None
) -> Redactor:
    """Return the redactor of ``task`` for a viewer who may (not) see its PII.

    ``steps`` are the task's steps when the caller already holds them (a
    prefetched detail page); otherwise their results and approval requests
    are read in one query. Nothing is read for a viewer who sees all.
    """
    box = task_box(task)
    if reveal:
        return Redactor(reveal=True, box=box)
    keys = definition_pii_keys(task.definition)
    if steps is None:
        rows: Iterable[Any] = Step.objects.filter(task_id=task.pk).values_list(
            "results", "approval_request"
        )
    else:
        rows = [(step.results, step.approval_request) for step in steps]
    sources = box.open([task.context, *[list(row) for row in rows]])
    return Redactor(keys=keys, values=pii_values(sources, keys), box=box)


def context_redactor(task: Any, *, reveal: bool) -> Redactor:
    """Return a redactor that knows only the task's context (no extra query).

    For list pages, which show the context and the reason but no step data.
    """
    box = task_box(task)
    if reveal:
        return Redactor(reveal=True, box=box)
    keys = definition_pii_keys(task.definition)
    return Redactor(
        keys=keys, values=pii_values([box.open(task.context)], keys), box=box
    )
