"""Model fields that keep personal data encrypted at rest (audit/crypto.py).

A model that holds personal data declares a :class:`DataKeyField` named
``data_key``, its personal columns as :class:`EncryptedTextField` (or
:class:`EncryptedEmailField`), and whose data it is: ``pii_subject``, the
name of the field holding the subject's e-mail (``"email"``), a path to it
(``"customer__email"``) or a callable taking the instance::

    class Customer(models.Model):
        email = EncryptedEmailField()
        email_index = BlindIndexField(source="email")
        data_key = DataKeyField()

        pii_subject = "email"

- **Writes**: the first save creates the record's data key (one INSERT,
  plus one UPDATE that names the owner once an auto-increment primary key
  is known). Every save seals the personal values in ``pre_save`` into the
  statement's parameters; the attributes keep their plaintext. A plaintext
  value that reaches the database by any other path (``queryset.update()``,
  ``bulk_update``, a filter) is refused: seal it with :func:`seal_for`.
- **Reads**: ``from_db_value`` opens each token with the key it names
  (:func:`audit.crypto.box_for`, cached per process): a read costs one
  query per key not yet cached, never one per value. An erased key reads
  ``[erased]``; a token that does not open raises
  :class:`audit.crypto.PIIUnreadable`.
  A list opens its page's keys with one query ahead of the rows:
  ``Model.objects.with_keys()`` on a model whose manager is
  :class:`PIIQuerySet`'s.
- **Look-ups and uniqueness** go through a :class:`BlindIndexField`
  (HMAC of the normalised e-mail) and :func:`blind_lookup`; a unique
  constraint on it is conditional on ``~Q(<index>="")``, so erased rows
  (index cleared) do not collide.
- A change of the subject moves the key's ``subject_index`` with it, so
  GDPR export and erasure keep finding the record.

``bulk_create`` is not supported on these models: it sends no
``post_save``, so the keys would not name their owners.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from django import forms
from django.core import checks, validators
from django.db import models
from django.db.models.query import ModelIterable
from django.db.models.signals import post_init, post_save

from audit import crypto
from audit.models import DataKey

SubjectSpec = str | Callable[[Any], str | None]

_MISSING = object()
_CHECK = object()
# The look-ups an encrypted column answers: ``exact`` only for "" and tokens
# (get_prep_value refuses plaintext); the others need a blind index.
_COLUMN_LOOKUPS = frozenset({"exact", "isnull", "in"})
# Instance attributes the fields keep beside the model's own.
_PENDING_OWNER = "_pii_pending_owner"
_SEEN_SUBJECT = "_pii_seen_subject"


class PlaintextRefused(ValueError):
    """A personal value was about to reach the database in clear.

    Raised for a filter on an encrypted column (use :func:`blind_lookup`)
    and for ``queryset.update()`` with a plaintext value (use
    :func:`seal_for`).
    """


def owner_type(model: type[models.Model] | models.Model) -> str:
    """Return ``"<app_label>.<model_name>"``, the ``owner_type`` of a data key."""
    return f"{model._meta.app_label}.{model._meta.model_name}"


def _key_field(model: type[models.Model]) -> DataKeyField | None:
    for field in model._meta.concrete_fields:
        if isinstance(field, DataKeyField):
            return field
    return None


def subject_of(instance: models.Model) -> str | None:
    """Return the e-mail of the person ``instance`` is about (``pii_subject``)."""
    spec: SubjectSpec | None = getattr(type(instance), "pii_subject", None)
    if spec is None:
        return None
    if callable(spec):
        return spec(instance)
    value: Any = instance
    for part in spec.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value if isinstance(value, str) and value != crypto.ERASED else None


def _subject_marker(instance: models.Model) -> Any:
    """Return what tells a subject change apart cheaply: the path's first column.

    For ``"customer__email"`` that is ``customer_id`` (a changed customer
    means a changed subject); not loaded is :data:`_MISSING`, and a
    callable subject is :data:`_CHECK` (checked on every save).
    """
    spec = getattr(type(instance), "pii_subject", None)
    if spec is None:
        return _MISSING
    if not isinstance(spec, str):
        return _CHECK
    field = instance._meta.get_field(spec.split("__", 1)[0])
    attname = getattr(field, "attname", field.name)
    return instance.__dict__.get(attname, _MISSING)


def _subject_saved(instance: models.Model, update_fields: Any) -> bool:
    """Return whether a save with ``update_fields`` may have changed the subject."""
    spec = getattr(type(instance), "pii_subject", None)
    if update_fields is None or not isinstance(spec, str):
        return True
    return spec.split("__", 1)[0] in update_fields


def box_of(instance: models.Model) -> crypto.Box:
    """Return the box of ``instance``'s data key, creating the key on first use.

    A new key is inserted at once (the owner's row refers to it); when the
    owner's primary key is not known yet, ``post_save`` names it.
    """
    field = _key_field(type(instance))
    if field is None:
        raise TypeError(f"{owner_type(instance)} has no DataKeyField")
    key_id = getattr(instance, field.attname)
    if key_id is not None:
        return crypto.box_for(key_id)
    row, box = crypto.new_key(
        owner_type=owner_type(instance),
        owner_id="" if instance.pk is None else instance.pk,
        subject=subject_of(instance),
    )
    row.save(force_insert=True)
    setattr(instance, field.name, row)
    instance.__dict__[_PENDING_OWNER] = instance.pk is None
    return box


def seal_for(instance: models.Model, value: Any) -> Any:
    """Return ``value`` sealed under ``instance``'s key, for ``queryset.update()``."""
    return box_of(instance).seal_value(value)


def blind_lookup(model: type[models.Model], source: str, value: str) -> models.Q:
    """Return the filter matching rows whose ``source`` equals ``value``.

    ``source`` is a field with a :class:`BlindIndexField`, or a path to one
    (``"customer__email"``). Compares blind indexes (normalised e-mails), so
    ``"Ada@Example.com"`` finds ``"ada@example.com"``; an empty ``value``
    matches nothing.
    """
    *hops, name = source.split("__")
    target: Any = model
    for hop in hops:
        target = target._meta.get_field(hop).related_model
    for field in target._meta.concrete_fields:
        if isinstance(field, BlindIndexField) and field.source == name:
            if not value:
                return models.Q(pk__in=[])
            path = "__".join([*hops, field.name])
            return models.Q(**{path: crypto.blind_index(value)})
    raise TypeError(f"{owner_type(target)} has no blind index of {name!r}")


class PIIQuerySet(models.QuerySet):
    """A queryset of records with encrypted fields.

    :meth:`with_keys` reads the keys of the rows it returns (and of related
    rows it selects) in one query before the rows, instead of one query per
    key not yet cached: for list pages.
    """

    _key_paths: tuple[str, ...] = ()

    def with_keys(self, *related: str) -> Self:
        """Return this queryset, warming its rows' keys (and ``related`` rows')."""
        clone = self.all()
        clone._key_paths = ("", *related)
        return clone

    # Not in django-stubs: the private hook every chained queryset is copied by.
    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]
        clone._key_paths = self._key_paths
        return clone

    def _fetch_all(self) -> None:
        if (
            self._result_cache is None
            and self._key_paths
            and self._iterable_class is ModelIterable
        ):
            self._warm_keys()
        super()._fetch_all()

    def _warm_keys(self) -> None:
        wanted = models.Q()
        for path in self._key_paths:
            model: Any = self.model
            for hop in path.split("__") if path else ():
                model = model._meta.get_field(hop).related_model
            field = _key_field(model)
            if field is not None:
                column = f"{path}__{field.name}" if path else field.name
                wanted |= models.Q(pk__in=self.values(column))
        if not wanted:
            return
        rows = DataKey.objects.filter(wanted).values_list("id", "wrapped", "master_id")
        for key_id, wrapped, master_id in rows:
            crypto.box_from_row(
                key_id, None if wrapped is None else bytes(wrapped), master_id
            )


class DataKeyField(models.ForeignKey):
    """The data key (:class:`audit.models.DataKey`) a record's personal data uses.

    Created by the first save; ``PROTECT``: erasure clears the key's
    material and keeps the row, so the owner never loses its reference.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("to", "audit.DataKey")
        kwargs.setdefault("on_delete", models.PROTECT)
        kwargs.setdefault("related_name", "+")
        kwargs["null"] = True
        kwargs["blank"] = True
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for fixed in ("null", "blank", "editable"):
            kwargs.pop(fixed, None)
        return name, path, args, kwargs

    def contribute_to_class(
        self,
        cls: type[models.Model],
        name: str,
        private_only: bool = False,
        **kwargs: Any,
    ) -> None:
        super().contribute_to_class(cls, name, private_only=private_only, **kwargs)
        if not cls._meta.abstract:
            post_init.connect(self._remember_subject, sender=cls, weak=False)
            post_save.connect(self._owner_saved, sender=cls, weak=False)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        if getattr(model_instance, self.attname) is None:
            box_of(model_instance)
        return getattr(model_instance, self.attname)

    def _remember_subject(self, sender: Any, instance: models.Model, **_: Any) -> None:
        instance.__dict__[_SEEN_SUBJECT] = _subject_marker(instance)

    def _owner_saved(
        self,
        sender: Any,
        instance: models.Model,
        created: bool,
        update_fields: Any = None,
        raw: bool = False,
        **_: Any,
    ) -> None:
        """Name the key's owner once its primary key is known; follow the subject."""
        key_id = getattr(instance, self.attname)
        if key_id is None or raw:
            return
        changes: dict[str, str] = {}
        if instance.__dict__.pop(_PENDING_OWNER, False):
            changes["owner_id"] = str(instance.pk)
        marker = _subject_marker(instance)
        seen = instance.__dict__.get(_SEEN_SUBJECT, _MISSING)
        if (
            not created
            and (marker is _CHECK or marker != seen)
            and _subject_saved(instance, update_fields)
        ):
            subject = subject_of(instance)
            changes["subject_index"] = crypto.blind_index(subject) if subject else ""
        if created or _subject_saved(instance, update_fields):
            instance.__dict__[_SEEN_SUBJECT] = marker
        if not changes:
            return
        keys = DataKey.objects.filter(pk=key_id)
        if "subject_index" in changes:
            # An erased key keeps no subject (datakey_erased_has_no_subject);
            # one already tagged so needs no write.
            keys = keys.filter(wrapped__isnull=False).exclude(
                subject_index=changes["subject_index"], owner_id=str(instance.pk)
            )
        keys.update(**changes)


class EncryptedTextField(models.TextField):
    """Text stored as a token under the record's data key; plaintext in Python.

    ``max_length`` (optional) is validated on the plaintext and picks a
    one-line form input; the column is text, tokens are longer than values.
    """

    description = "Text encrypted under the record's data key"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            self.validators.append(validators.MaxLengthValidator(self.max_length))

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        model = getattr(self, "model", None)
        if model is not None and not model._meta.abstract and not _key_field(model):
            errors.append(
                checks.Error(
                    f"{owner_type(model)}.{self.name} is encrypted, but the model "
                    "has no DataKeyField to hold its key",
                    obj=self,
                    id="audit.E101",
                )
            )
        return errors

    def get_lookup(self, lookup_name: str) -> Any:
        # A token never equals, contains or sorts like its plaintext: only
        # "empty or not" is answered by the column itself.
        if lookup_name not in _COLUMN_LOOKUPS:
            return None
        return super().get_lookup(lookup_name)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "" or value == crypto.ERASED:
            return value
        if not crypto.is_token(value):
            raise crypto.PIIUnreadable(
                f"{owner_type(self.model)}.{self.name} holds a value that is not "
                "a token: personal data was written in clear"
            )
        opened = crypto.box_for(_token_key(value)).open_value(value)
        return opened if isinstance(opened, str) else str(opened)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if value is None or value == "":
            return value
        box = box_of(model_instance)
        if box.erased:
            if value != crypto.ERASED:
                raise crypto.PIIUnreadable(
                    f"the personal data of {owner_type(model_instance)} "
                    f"{model_instance.pk} was erased: {self.name} cannot be set"
                )
            return value
        return box.seal_value(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "" or value == crypto.ERASED:
            return value
        if not crypto.is_token(value):
            raise PlaintextRefused(
                f"{owner_type(self.model)}.{self.name} is encrypted: look it up "
                "with blind_lookup() and update it with seal_for()"
            )
        return value

    def formfield(self, **kwargs: Any) -> Any:
        if self.max_length is not None and not self.choices:
            kwargs.setdefault("widget", forms.TextInput)
        return super().formfield(**kwargs)


class EncryptedEmailField(EncryptedTextField):
    """An e-mail address, encrypted; validated and edited as an EmailField."""

    default_validators = [validators.validate_email]
    description = "E-mail address encrypted under the record's data key"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(*args, **kwargs)

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"form_class": forms.EmailField, **kwargs})


def _token_key(token: str) -> str:
    return token[len(crypto.TOKEN_PREFIX) :].partition(":")[0]


class BlindIndexField(models.CharField):
    """The blind index of another field's plaintext (an e-mail), kept by ``save``.

    ``""`` when the source is empty or erased, so a uniqueness constraint
    on it must be conditional on ``~Q(<index>="")``.
    """

    description = "Blind index (HMAC) of another field"

    def __init__(self, *args: Any, source: str, **kwargs: Any) -> None:
        self.source = source
        kwargs["max_length"] = 64
        kwargs["blank"] = True
        kwargs["default"] = ""
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for fixed in ("max_length", "blank", "default", "editable"):
            kwargs.pop(fixed, None)
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.source)
        index = "" if not value or value == crypto.ERASED else crypto.blind_index(value)
        setattr(model_instance, self.attname, index)
        return index
