"""``rotate_pii_keys``: every data key moves under the first master key."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit import crypto, rotation
from audit.management.commands.rotate_pii_keys import Command
from audit.models import AuditEvent, DataKey

PERSONAL = frozenset({"email", "name"})
KEY_B = Fernet.generate_key()
KEY_C = Fernet.generate_key()

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    crypto._cache.clear()
    yield
    crypto._cache.clear()


@pytest.fixture
def key_a(settings) -> bytes:
    """The test settings' master key, alone: the keys made now are under it."""
    settings.TASKER_PII_KEYS = settings.TASKER_PII_KEYS[:1]
    return settings.TASKER_PII_KEYS[0]


def sealed_records(count: int) -> list[tuple[DataKey, dict, dict]]:
    """Return ``count`` saved keys, each with a value sealed under it and the plain."""
    out = []
    for i in range(count):
        row, box = crypto.new_key(
            owner_type="tests.thing", owner_id=i, subject=f"user{i}@example.com"
        )
        row.save()
        plain = {"email": f"user{i}@example.com", "name": f"User {i}", "n": i}
        out.append((row, box.seal(plain, PERSONAL), plain))
    return out


def rotate(*args: str, **options: object) -> str:
    out = io.StringIO()
    call_command("rotate_pii_keys", *args, stdout=out, **options)
    return out.getvalue()


def masters_in_db() -> set[str]:
    return set(
        DataKey.objects.filter(wrapped__isnull=False).values_list(
            "master_id", flat=True
        )
    )


def test_rotation_rewraps_every_key_and_the_old_master_can_go(settings, key_a):
    """After a run under "B,A" every key is B's, and B alone opens every value."""
    records = sealed_records(5)
    erased, _ = crypto.new_key(owner_type="tests.thing", owner_id=99, subject=None)
    erased.wrapped, erased.erased_at = None, timezone.now()
    erased.save()
    assert masters_in_db() == {crypto.fingerprint(key_a)}

    settings.TASKER_PII_KEYS = [KEY_B, key_a]
    output = rotate("--batch-size", "2")
    assert "re-wrapped 5" in output
    assert "left 0" in output
    assert masters_in_db() == {crypto.fingerprint(KEY_B)}
    erased.refresh_from_db()
    assert erased.wrapped is None  # an erased key stays erased
    assert erased.master_id == crypto.fingerprint(key_a)

    settings.TASKER_PII_KEYS = [KEY_B]
    crypto._cache.clear()
    for _, sealed, plain in records:
        assert crypto.NO_KEY.open(sealed) == plain


def test_the_run_writes_one_audit_event_naming_the_new_master(settings, key_a):
    sealed_records(3)
    settings.TASKER_PII_KEYS = [KEY_B, key_a]
    rotate()
    event = AuditEvent.objects.get(action="pii.keys_rotated")
    assert event.object_type == "pii_keys"
    assert event.object_id == crypto.fingerprint(KEY_B)
    assert event.actor_label == "system:cli"
    assert event.metadata["rewrapped"] == 3
    assert event.metadata["left"] == 0
    assert event.metadata["from_master_ids"] == [crypto.fingerprint(key_a)]
    assert str(KEY_B) not in str(event.metadata)


def test_a_second_run_finds_everything_current_and_writes_no_event(settings, key_a):
    """Running again is harmless: nothing re-wrapped, nothing audited."""
    sealed_records(2)
    settings.TASKER_PII_KEYS = [KEY_B, key_a]
    rotate()
    output = rotate()
    assert "re-wrapped 0, already current 2, left 0" in output
    assert AuditEvent.objects.filter(action="pii.keys_rotated").count() == 1


def test_an_interrupted_run_is_resumed_by_running_again(settings, key_a):
    """Batches commit one by one: a run stopped after two resumes where it was."""
    records = sealed_records(5)
    settings.TASKER_PII_KEYS = [KEY_B, key_a]
    output = rotate("--batch-size", "1", "--max-batches", "2")
    assert "re-wrapped 2" in output
    assert "left 3" in output
    assert "run again" in output
    assert DataKey.objects.filter(master_id=crypto.fingerprint(KEY_B)).count() == 2

    output = rotate("--batch-size", "1")
    assert "re-wrapped 3" in output
    assert "already current 2" in output
    assert masters_in_db() == {crypto.fingerprint(KEY_B)}
    settings.TASKER_PII_KEYS = [KEY_B]
    crypto._cache.clear()
    for _, sealed, plain in records:
        assert crypto.NO_KEY.open(sealed) == plain


def test_a_key_erased_during_the_batch_is_not_brought_back(
    settings, key_a, monkeypatch
):
    """The write-back is a compare-and-set: an erasure that wins stays."""
    (row, _, _), *_ = sealed_records(2)
    settings.TASKER_PII_KEYS = [KEY_B, key_a]
    real_wrap = crypto.wrap

    def erase_first_then_wrap(raw: bytes) -> tuple[bytes, str]:
        DataKey.objects.filter(pk=row.pk).update(
            wrapped=None, subject_index="", erased_at=timezone.now()
        )
        return real_wrap(raw)

    monkeypatch.setattr(rotation.crypto, "wrap", erase_first_then_wrap)
    report = rotation.pii_keys_rotate(actor=rotation.Actor.system_actor("test"))
    assert report.rewrapped == 1
    row.refresh_from_db()
    assert row.wrapped is None


def test_a_key_wrapped_by_an_unknown_master_exits_1_naming_it(settings, key_a):
    """The others are re-wrapped; the stray one is named by id, never by material."""
    sealed_records(2)
    raw = b"r" * 32
    stray = DataKey.objects.create(
        owner_type="tests.thing",
        owner_id="stray",
        wrapped=Fernet(KEY_C).encrypt(raw),
        master_id=crypto.fingerprint(KEY_C),
    )
    settings.TASKER_PII_KEYS = [KEY_B, key_a]
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("rotate_pii_keys", stdout=out)
    assert caught.value.returncode == 1
    message = str(caught.value)
    assert str(stray.pk) in message
    assert "TASKER_PII_KEYS" in message
    for secret in (KEY_B, key_a, KEY_C, bytes(stray.wrapped)):
        assert secret.decode(errors="replace") not in message + out.getvalue()
    assert "re-wrapped 2" in out.getvalue()
    assert "left 1" in out.getvalue()
    assert DataKey.objects.get(pk=stray.pk).master_id == crypto.fingerprint(KEY_C)
    assert AuditEvent.objects.filter(action="pii.keys_rotated").count() == 1


@pytest.mark.parametrize(
    "argv",
    [["--batch-size", "0"], ["--batch-size", "many"], ["--max-batches", "-1"]],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        Command().run_from_argv(["manage.py", "rotate_pii_keys", *argv])
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_bad_batch_size_given_as_an_option_exits_2():
    with pytest.raises(CommandError) as caught:
        rotate(batch_size=0)
    assert caught.value.returncode == 2


def test_two_runs_interleaved_rewrap_each_key_once(settings, key_a):
    """A second run between the first one's batches takes the rest; none twice."""
    sealed_records(4)
    settings.TASKER_PII_KEYS = [KEY_B, key_a]
    actor = rotation.Actor.system_actor("test")
    second: list[rotation.RotationReport] = []

    def run_another_once(report: rotation.RotationReport) -> None:
        if not second:
            second.append(rotation.pii_keys_rotate(actor=actor, batch_size=1))

    first = rotation.pii_keys_rotate(
        actor=actor, batch_size=1, progress=run_another_once
    )
    assert (first.rewrapped, second[0].rewrapped) == (1, 3)
    assert first.left == second[0].left == 0
    assert masters_in_db() == {crypto.fingerprint(KEY_B)}
