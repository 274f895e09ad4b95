"""Encrypt the examples' personal columns at rest (audit/fields.py).

Adds each record's data key and the blind indexes, seals the existing
values under a fresh key per record, then moves the e-mail uniqueness and
the e-mail indexes onto the blind indexes. The columns become text: a
token is longer than the value it seals.

Reversible while no record was erased: going back writes the values in
clear again and deletes the keys; an erased record's data no longer exists
to write back.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.db.migrations.exceptions import IrreversibleError

import audit.fields

BATCH = 500

# model → (encrypted fields, {source: blind index}, whose e-mail is the subject)
PLAN: dict[str, tuple[tuple[str, ...], dict[str, str], str]] = {
    "customer": (("name", "email"), {"email": "email_index"}, "email"),
    "supportticket": (("subject", "resolution_note"), {}, "customer"),
    "payment": (("description",), {}, "customer"),
    "sentemail": (("to", "subject", "body"), {"to": "to_index"}, "to"),
    "order": (("customer_email",), {"customer_email": "customer_email_index"}, "customer_email"),
    "useraccount": (("email", "name"), {"email": "email_index"}, "email"),
}


def _batches(queryset: Any) -> Any:
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def _checks_now(schema_editor: Any) -> None:
    """Check foreign keys per statement from here on (PostgreSQL).

    Deferred checks would leave trigger events pending, and PostgreSQL
    refuses the ALTER TABLEs that follow in this transaction.
    """
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def seal(apps: Any, schema_editor: Any) -> None:
    """Give every record a data key and seal its personal values under it."""
    from audit import crypto

    _checks_now(schema_editor)
    DataKey = apps.get_model("audit", "DataKey")
    customer_emails = dict(
        apps.get_model("examples", "Customer").objects.values_list("pk", "email")
    )
    for model_name, (fields, indexes, subject_from) in PLAN.items():
        model = apps.get_model("examples", model_name)
        pending = model.objects.filter(data_key__isnull=True)
        for rows in _batches(pending):
            keys = []
            for row in rows:
                subject = (
                    customer_emails.get(row.customer_id)
                    if subject_from == "customer"
                    else getattr(row, subject_from)
                )
                key, box = crypto.new_key(
                    owner_type=f"examples.{model_name}",
                    owner_id=row.pk,
                    subject=subject or None,
                )
                keys.append(
                    DataKey(
                        id=key.id,
                        owner_type=key.owner_type,
                        owner_id=key.owner_id,
                        subject_index=key.subject_index,
                        wrapped=key.wrapped,
                        master_id=key.master_id,
                        created_at=key.created_at,
                    )
                )
                row.data_key_id = key.id
                for source, index in indexes.items():
                    plain = getattr(row, source)
                    setattr(row, index, crypto.blind_index(plain) if plain else "")
                for field in fields:
                    setattr(row, field, box.seal_value(getattr(row, field)))
            DataKey.objects.bulk_create(keys)
            model.objects.bulk_update(
                rows, ["data_key", *indexes.values(), *fields], batch_size=BATCH
            )


def unseal(apps: Any, schema_editor: Any) -> None:
    """Write the personal values back in clear and delete their keys."""
    from audit import crypto

    _checks_now(schema_editor)
    DataKey = apps.get_model("audit", "DataKey")
    owner_types = [f"examples.{name}" for name in PLAN]
    erased = DataKey.objects.filter(
        owner_type__in=owner_types, wrapped__isnull=True
    ).count()
    if erased:
        raise IrreversibleError(
            f"{erased} example records were erased (their data keys destroyed): "
            "their personal data cannot be written back in clear. Delete those "
            "records first to migrate examples below 0003."
        )
    for model_name, (fields, _, _) in PLAN.items():
        model = apps.get_model("examples", model_name)
        for rows in _batches(model.objects.filter(data_key__isnull=False)):
            boxes = crypto.boxes_for(row.data_key_id for row in rows)
            for row in rows:
                box = boxes[row.data_key_id]
                for field in fields:
                    value = getattr(row, field)
                    if crypto.is_token(value):
                        setattr(row, field, box.open_value(value))
                row.data_key_id = None
            model.objects.bulk_update(rows, ["data_key", *fields], batch_size=BATCH)
    DataKey.objects.filter(owner_type__in=owner_types).delete()


def _data_key() -> audit.fields.DataKeyField:
    return audit.fields.DataKeyField(
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="audit.datakey",
    )


# (model, field, the plain text column the values are sealed in, the final field)
COLUMNS = [
    (
        "customer",
        "name",
        models.TextField(),
        audit.fields.EncryptedTextField(max_length=200),
    ),
    (
        "customer",
        "email",
        models.TextField(),
        audit.fields.EncryptedEmailField(max_length=254),
    ),
    (
        "supportticket",
        "subject",
        models.TextField(),
        audit.fields.EncryptedTextField(max_length=200),
    ),
    (
        "supportticket",
        "resolution_note",
        models.TextField(blank=True),
        audit.fields.EncryptedTextField(blank=True),
    ),
    (
        "payment",
        "description",
        models.TextField(blank=True),
        audit.fields.EncryptedTextField(blank=True, max_length=255),
    ),
    (
        "sentemail",
        "to",
        models.TextField(),
        audit.fields.EncryptedEmailField(max_length=254),
    ),
    (
        "sentemail",
        "subject",
        models.TextField(),
        audit.fields.EncryptedTextField(max_length=255),
    ),
    (
        "sentemail",
        "body",
        models.TextField(),
        audit.fields.EncryptedTextField(),
    ),
    (
        "order",
        "customer_email",
        models.TextField(),
        audit.fields.EncryptedEmailField(max_length=254),
    ),
    (
        "useraccount",
        "email",
        models.TextField(),
        audit.fields.EncryptedEmailField(max_length=254),
    ),
    (
        "useraccount",
        "name",
        models.TextField(),
        audit.fields.EncryptedTextField(max_length=200),
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_data_keys"),
        ("examples", "0002_refunds"),
    ]

    operations = [
        # The plaintext uniqueness and indexes go first: the columns change.
        migrations.RemoveConstraint(
            model_name="customer", name="examples_customer_unique_email"
        ),
        migrations.RemoveConstraint(
            model_name="useraccount", name="examples_user_unique_email"
        ),
        migrations.RemoveIndex(model_name="order", name="examples_order_email"),
        migrations.RemoveIndex(model_name="sentemail", name="examples_sentemail_to"),
        *(
            migrations.AddField(model_name=name, name="data_key", field=_data_key())
            for name in PLAN
        ),
        migrations.AddField(
            model_name="customer",
            name="email_index",
            field=audit.fields.BlindIndexField(source="email"),
        ),
        migrations.AddField(
            model_name="sentemail",
            name="to_index",
            field=audit.fields.BlindIndexField(source="to"),
        ),
        migrations.AddField(
            model_name="order",
            name="customer_email_index",
            field=audit.fields.BlindIndexField(source="customer_email"),
        ),
        migrations.AddField(
            model_name="useraccount",
            name="email_index",
            field=audit.fields.BlindIndexField(source="email"),
        ),
        *(
            migrations.AlterField(model_name=model, name=name, field=plain)
            for model, name, plain, _ in COLUMNS
        ),
        migrations.RunPython(seal, unseal, elidable=False),
        # Same text columns: only the fields' Python side changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name=model, name=name, field=final)
                for model, name, _, final in COLUMNS
            ]
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                fields=["customer_email_index"], name="examples_order_email_index"
            ),
        ),
        migrations.AddIndex(
            model_name="sentemail",
            index=models.Index(fields=["to_index"], name="examples_sentemail_to_index"),
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.UniqueConstraint(
                condition=~models.Q(email_index=""),
                fields=("email_index",),
                name="examples_customer_unique_email",
            ),
        ),
        migrations.AddConstraint(
            model_name="useraccount",
            constraint=models.UniqueConstraint(
                condition=~models.Q(email_index=""),
                fields=("email_index",),
                name="examples_user_unique_email",
            ),
        ),
    ]
