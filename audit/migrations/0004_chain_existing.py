"""Chain the audit events that exist and cover the auditlog entries that exist.

Per chain in (created_at, id) order; see audit/chain.py for the encoding.
"""

from django.db import migrations

from audit.chain import chain_existing


def forwards(apps, schema_editor):
    chain_existing(apps.get_model("audit", "AuditEvent"), apps.get_model("auditlog", "LogEntry"))


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_chain_fields"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
