"""The audit trail is tamper-evident: ``audit_verify`` names the first bad link.

Runs on SQLite and PostgreSQL alike. On PostgreSQL the append-only trigger
is switched off inside the test's transaction (``session_replication_role =
replica``) to play a DBA who edits rows by hand.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit.models import ActorInTrailError, AuditEvent
from audit.trail import audit_record
from namespaces.models import Namespace
from tasker_project.core.actors import Actor
from tests.factories import NamespaceFactory, UserFactory, start
from tests.workflows.helpers import race
from workflows.services import task_start_many

SYSTEM = Actor.system_actor("test")


@contextmanager
def as_dba() -> Iterator[None]:
    """Let the block UPDATE/DELETE the trail as a DBA could.

    PostgreSQL: past the append-only trigger. SQLite: past the JSON_VALID
    check constraints, so a column can hold text that no longer parses.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA ignore_check_constraints = OFF")
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = origin")


def verify() -> str:
    """Run audit_verify; return its output, or raise CommandError."""
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def refused() -> str:
    """Run audit_verify, assert it exits 1, and return its message."""
    with pytest.raises(CommandError) as caught:
        verify()
    assert caught.value.returncode == 1
    message = str(caught.value)
    assert "Traceback" not in message
    return message


@pytest.fixture
def trail(synced) -> dict[str, AuditEvent]:
    """Events in two namespaces and the global chain, a bulk start, log entries."""
    alpha = NamespaceFactory(slug="alpha")  # auditlog: a LogEntry per namespace
    beta = NamespaceFactory(slug="beta")
    alpha.name = "Alpha team"
    alpha.save()  # an update LogEntry
    events = {
        "a1": audit_record(
            actor=SYSTEM, action="x.one", object_type="t", object_id=1, namespace=alpha
        ),
        "a2": audit_record(
            actor=SYSTEM,
            action="x.two",
            object_type="t",
            object_id=2,
            namespace=alpha,
            metadata={"n": 1.0, "s": "é", "list": [1, 2]},
        ),
        "b1": audit_record(
            actor=SYSTEM, action="x.one", object_type="t", object_id=3, namespace=beta
        ),
        "g1": audit_record(actor=SYSTEM, action="x.g", object_type="t", object_id=4),
        "g2": audit_record(actor=SYSTEM, action="x.g", object_type="t", object_id=5),
    }
    start("testing.chain")
    task_start_many(
        namespace="testing",
        workflow="diamond",
        contexts=[{"start": n} for n in range(5)],
        actor=SYSTEM,
    )
    return events


def test_an_untouched_trail_verifies_with_counts_and_heads(trail):
    """Exit 0, one line per chain with its count and head hash."""
    output = verify()
    testing = Namespace.objects.get(slug="testing")
    started = AuditEvent.objects.filter(namespace=testing).order_by("seq")
    assert list(started.values_list("seq", flat=True)) == list(
        range(1, started.count() + 1)
    )
    head = started.last()
    assert f"chain ns:{testing.pk}: {started.count()} events" in output
    assert f"head seq {head.seq} hash {head.hash}" in output
    assert "chain global:" in output
    entries = LogEntry.objects.count()
    assert entries >= 3
    assert f"log entries: {entries}" in output
    # Each LogEntry is covered by one chained event.
    assert AuditEvent.objects.filter(action="auditlog.entry").count() == entries


def test_each_row_links_to_its_predecessor(trail):
    a1, a2 = trail["a1"], trail["a2"]
    assert a1.chain == a2.chain == f"ns:{a1.namespace_id}"
    assert a2.seq == a1.seq + 1
    assert a2.prev_hash == a1.hash
    first = AuditEvent.objects.get(chain=a1.chain, seq=1)
    assert first.prev_hash == ""
    assert len(a2.hash) == 64


def test_an_edited_column_is_named(trail):
    target = trail["a1"]
    with as_dba():
        AuditEvent.objects.filter(pk=target.pk).update(reason="nothing happened")
    message = refused()
    assert str(target.pk) in message
    assert "hash mismatch" in message


def test_metadata_edited_into_broken_json_is_named_not_raised(trail):
    """SQLite: raw ``'{bad'`` in the JSON column is reported, not a traceback.

    PostgreSQL's jsonb cannot hold invalid JSON, so there the same test
    edits the JSON to another valid value, which the hash catches.
    """
    target = trail["a2"]
    pk = AuditEvent._meta.pk.get_db_prep_value(target.pk, connection)
    with as_dba(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "UPDATE audit_auditevent SET metadata = '{bad' WHERE id = %s", [pk]
            )
        else:
            cursor.execute(
                "UPDATE audit_auditevent SET metadata = '{\"n\": 2}' WHERE id = %s",
                [pk],
            )
    message = refused()
    assert str(target.pk) in message
    if connection.vendor == "sqlite":
        assert "JSON that no longer parses" in message
    else:
        assert "hash mismatch" in message


def test_a_deleted_row_leaves_a_gap_named_by_the_row_after(trail):
    with as_dba():
        AuditEvent.objects.filter(pk=trail["g1"].pk).delete()
    message = refused()
    assert str(trail["g2"].pk) in message
    assert "deleted" in message


def test_an_inserted_row_is_named(trail):
    """A forged row at the head: its hash cannot be computed without the key."""
    head = AuditEvent.objects.filter(chain="global").order_by("-seq").first()
    forged = AuditEvent(
        actor_label="mallory",
        action="x.forged",
        object_type="t",
        object_id="9",
        chain="global",
        seq=head.seq + 1,
        prev_hash=head.hash,
        hash="0" * 64,
    )
    AuditEvent.objects.bulk_create([forged])  # bypasses the chaining
    message = refused()
    assert str(forged.pk) in message
    assert "hash mismatch" in message


def test_a_row_relinked_after_a_deletion_is_named(trail):
    """Deleting a row and renumbering the next breaks the prev_hash link."""
    with as_dba():
        AuditEvent.objects.filter(pk=trail["a1"].pk).delete()
        AuditEvent.objects.filter(pk=trail["a2"].pk).update(seq=trail["a1"].seq)
    message = refused()
    assert str(trail["a2"].pk) in message
    assert "prev_hash" in message


def test_an_edited_log_entry_is_named(trail):
    entry = LogEntry.objects.order_by("id").first()
    with as_dba():
        LogEntry.objects.filter(pk=entry.pk).update(object_repr="someone else")
    message = refused()
    assert f"log entry {entry.pk}" in message
    assert "digest mismatch" in message


def test_a_log_entry_with_broken_json_is_named(trail):
    """SQLite only can hold invalid JSON (see the metadata test); PostgreSQL
    gets a valid but different value, caught by the digest."""
    entry = LogEntry.objects.order_by("id").first()
    bad = "'{bad'" if connection.vendor == "sqlite" else "'{\"forged\": 1}'"
    with as_dba(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE auditlog_logentry SET changes = {bad} WHERE id = %s",  # noqa: S608 - a constant
            [entry.pk],
        )
    message = refused()
    assert f"log entry {entry.pk}" in message
    if connection.vendor == "sqlite":
        assert "JSON that no longer parses" in message
    else:
        assert "digest mismatch" in message


def test_a_deleted_log_entry_is_named(trail):
    entry = LogEntry.objects.order_by("id").last()
    with as_dba():
        LogEntry.objects.filter(pk=entry.pk).delete()
    message = refused()
    assert f"log entry {entry.pk}" in message
    assert "deleted" in message


def test_an_inserted_log_entry_is_named(trail):
    entry = LogEntry.objects.order_by("id").first()
    entry.pk = None
    entry.object_repr = "forged"
    (forged,) = LogEntry.objects.bulk_create([entry])  # no post_save: no cover
    message = refused()
    assert f"log entry {forged.pk}" in message
    assert "inserted" in message


def test_the_database_refuses_update_and_delete_on_postgresql(trail):
    """PostgreSQL: a trigger refuses both on both tables. SQLite has no
    trigger; there audit_verify is the only guard, so assert it catches it."""
    event, entry = trail["g1"], LogEntry.objects.first()
    if connection.vendor == "postgresql":
        for change in (
            lambda: AuditEvent.objects.filter(pk=event.pk).update(reason="x"),
            lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
            lambda: LogEntry.objects.filter(pk=entry.pk).update(object_repr="x"),
            lambda: LogEntry.objects.filter(pk=entry.pk).delete(),
        ):
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
            ):
                change()
        assert "audit trail verifies" in verify()
    else:
        AuditEvent.objects.filter(pk=event.pk).update(reason="x")
        assert str(event.pk) in refused()


def test_deleting_a_user_in_the_trail_is_refused(db):
    """By the ORM, whether the user acts in an audit event or a log entry."""
    actor = UserFactory(username="actor")
    audit_record(actor=Actor.of(actor), action="x", object_type="t", object_id=1)
    with pytest.raises(ActorInTrailError, match="deactivate instead"):
        actor.delete()
    editor = UserFactory(username="editor")
    with set_actor(editor):
        NamespaceFactory(slug="edited")
    assert LogEntry.objects.filter(actor=editor).exists()
    with pytest.raises(ActorInTrailError, match="deactivate instead"):
        editor.delete()
    with pytest.raises(ActorInTrailError, match="deactivate instead"):
        get_user_model().objects.filter(username__in=["actor", "editor"]).delete()
    assert (
        get_user_model().objects.filter(username__in=["actor", "editor"]).count() == 2
    )
    bystander = UserFactory(username="bystander")
    bystander.delete()  # never acted: deleting is fine


def test_the_user_admin_refuses_deleting_a_user_in_the_trail(db, client):
    """The admin shows a message instead of a 500, and keeps the user."""
    admin_user = get_user_model().objects.create_superuser("root", "r@x.test", "pw")
    actor = UserFactory(username="actor")
    audit_record(actor=Actor.of(actor), action="x", object_type="t", object_id=1)
    client.force_login(admin_user)
    response = client.post(
        f"/admin/auth/user/{actor.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "deactivate instead" in response.content.decode()
    response = client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [actor.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert "deactivate instead" in response.content.decode()
    assert get_user_model().objects.filter(pk=actor.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_the_chain_gapless():
    """Two threads appending to one chain at once: seq 1..N, and it verifies."""
    namespace = NamespaceFactory(slug="racing")

    def append(label: str) -> None:
        for n in range(10):
            with transaction.atomic():
                audit_record(
                    actor=Actor.system_actor(label),
                    action="x.race",
                    object_type="t",
                    object_id=n,
                    namespace=Namespace.objects.get(pk=namespace.pk),
                )

    race([lambda: append("one"), lambda: append("two")])
    seqs = list(
        AuditEvent.objects.filter(chain=f"ns:{namespace.pk}")
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    assert seqs == list(range(1, len(seqs) + 1))
    assert AuditEvent.objects.filter(action="x.race").count() == 20
    assert "audit trail verifies" in verify()
