"""One row per (chain, seq); on PostgreSQL both trails refuse UPDATE and DELETE.

The trigger stands for the database-level promise "append-only": a DBA who
disables it (or runs as ``session_replication_role = replica``) can still
edit rows, which ``manage.py audit_verify`` then reports. TRUNCATE (the test
suite's flush) is not refused.
"""

from django.db import migrations, models

TABLES = ("audit_auditevent", "auditlog_logentry")

CREATE = """
CREATE OR REPLACE FUNCTION tasker_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused',
        TG_OP, TG_TABLE_NAME
        USING HINT = 'deactivate a user instead of deleting them';
END
$$;
""" + "".join(
    f"""
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION tasker_audit_append_only();
"""
    for table in TABLES
)

DROP = "".join(
    f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};\n" for table in TABLES
) + "DROP FUNCTION IF EXISTS tasker_audit_append_only();\n"


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_chain_existing"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                fields=("chain", "seq"), name="audit_chain_seq"
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
