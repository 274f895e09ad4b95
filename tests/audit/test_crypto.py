"""PII encryption at rest: tokens, data keys, blind indexes and the key cache."""

from __future__ import annotations

import base64
import types
import uuid
from collections.abc import Iterator

import pytest
from django.test import override_settings
from django.utils import timezone

from audit import crypto
from audit.crypto import ERASED, NO_KEY, TOKEN_PREFIX, Box, PIIUnreadable
from audit.models import DataKey

PERSONAL = frozenset({"email", "age", "profile", "tags"})


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    crypto._cache.clear()
    yield
    crypto._cache.clear()


def saved_key(subject: str | None = None) -> tuple[DataKey, Box]:
    """Return a saved data key row and its box."""
    row, box = crypto.new_key(owner_type="tests.thing", owner_id=1, subject=subject)
    row.save()
    return row, box


def reopen(token: str) -> object:
    """Open ``token`` the way a reader without the box does: by its key id."""
    crypto._cache.clear()
    return NO_KEY.open(token)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    ["ann@example.com", "Zoë Ünïcode", 42, 3.5, True, {"city": "Oslo", "zip": 150}],
)
def test_a_sealed_value_opens_to_the_same_value(value):
    """Strings, numbers and dicts round-trip through a token with their type."""
    _, box = saved_key()
    token = box.seal_value(value)
    assert isinstance(token, str)
    assert token.startswith(TOKEN_PREFIX)
    if isinstance(value, str):
        assert value not in token
    assert box.open_value(token) == value
    assert reopen(token) == value


@pytest.mark.django_db
def test_seal_encrypts_only_the_values_under_personal_keys_at_any_depth():
    """Personal keys are sealed in nested dicts and lists; the rest stays plain."""
    _, box = saved_key()
    value = {
        "email": "ann@example.com",
        "order": 7,
        "profile": {"street": "Main 1"},
        "tags": ["vip", "eu"],
        "items": [{"age": 31, "sku": "A-1"}],
    }
    sealed = box.seal(value, PERSONAL)
    assert sealed["order"] == 7
    assert sealed["items"][0]["sku"] == "A-1"
    for token in (
        sealed["email"],
        sealed["profile"],
        sealed["tags"],
        sealed["items"][0]["age"],
    ):
        assert crypto.is_token(token)
    assert crypto.holds_tokens(sealed)
    assert box.open(sealed) == value
    assert reopen(sealed) == value


@pytest.mark.django_db
@pytest.mark.parametrize("value", [None, ""])
def test_none_and_empty_string_are_stored_as_they_are(value):
    """Nothing to hide: None and "" are not turned into tokens."""
    _, box = saved_key()
    assert box.seal_value(value) == value
    assert box.seal({"email": value}, PERSONAL) == {"email": value}


@pytest.mark.django_db
def test_a_token_names_its_data_key():
    _, box = saved_key()
    token = box.seal_value("ann@example.com")
    assert token.startswith(f"{TOKEN_PREFIX}{box.key_id.hex}:")


@pytest.mark.django_db
def test_a_token_moved_under_another_keys_id_does_not_open():
    """The key id is the associated data: swapping it for another id fails."""
    _, box = saved_key()
    other, _ = saved_key()
    token = box.seal_value("ann@example.com")
    body = token.rpartition(":")[2]
    with pytest.raises(PIIUnreadable):
        reopen(f"{TOKEN_PREFIX}{other.pk.hex}:{body}")


@pytest.mark.django_db
def test_the_key_id_is_authenticated_even_when_two_ids_share_the_raw_key():
    """A twin row holding the same raw key still refuses the moved token (AAD)."""
    row, box = saved_key()
    raw = crypto.unwrap(row.wrapped, row.master_id)
    wrapped, master_id = crypto.wrap(raw)
    twin = DataKey.objects.create(
        owner_type="tests.thing", owner_id="2", wrapped=wrapped, master_id=master_id
    )
    token = box.seal_value("ann@example.com")
    body = token.rpartition(":")[2]
    assert reopen(token) == "ann@example.com"
    with pytest.raises(PIIUnreadable, match="does not decrypt"):
        reopen(f"{TOKEN_PREFIX}{twin.pk.hex}:{body}")


@pytest.mark.django_db
@pytest.mark.parametrize("where", [0, 12, -1])
def test_a_tampered_token_does_not_open(where):
    """A changed byte in the nonce, the ciphertext or the tag raises."""
    _, box = saved_key()
    token = box.seal_value("ann@example.com")
    head, _, body = token.rpartition(":")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[where] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(PIIUnreadable, match="does not decrypt"):
        box.open_value(f"{head}:{tampered}")


@pytest.mark.django_db
def test_a_truncated_or_garbled_token_does_not_open():
    _, box = saved_key()
    token = box.seal_value("ann@example.com")
    with pytest.raises(PIIUnreadable):
        box.open_value(token[:-10])
    with pytest.raises(PIIUnreadable, match="names no valid data key"):
        box.open_value(f"{TOKEN_PREFIX}not-a-uuid:AAAA")


@pytest.mark.django_db
def test_an_erased_key_opens_to_erased():
    """Crypto-shredding: once a key's material is gone its tokens read [erased]."""
    row, box = saved_key(subject="ann@example.com")
    sealed = box.seal({"email": "ann@example.com", "order": 7}, PERSONAL)
    DataKey.objects.filter(pk=row.pk).update(
        wrapped=None, subject_index="", erased_at=timezone.now()
    )
    crypto.forget([row.pk])
    assert NO_KEY.open(sealed) == {"email": ERASED, "order": 7}
    erased = crypto.box_for(row.pk)
    assert erased.erased
    with pytest.raises(PIIUnreadable):
        erased.seal_value("new@example.com")


@pytest.mark.django_db
def test_a_token_of_an_unknown_key_raises():
    """An id with no key row is an error, not missing data."""
    _, box = saved_key()
    token = box.seal_value("ann@example.com")
    body = token.rpartition(":")[2]
    unknown = uuid.uuid4()
    with pytest.raises(PIIUnreadable, match=f"data key {unknown} does not exist"):
        reopen(f"{TOKEN_PREFIX}{unknown.hex}:{body}")


@pytest.mark.django_db
def test_a_key_wrapped_by_no_configured_master_does_not_unwrap(settings):
    _, box = saved_key()
    token = box.seal_value("ann@example.com")
    settings.TASKER_PII_KEYS = [crypto.Fernet.generate_key()]
    with pytest.raises(PIIUnreadable, match="none of the keys in TASKER_PII_KEYS"):
        reopen(token)


def test_the_blind_index_ignores_case_and_surrounding_whitespace():
    assert crypto.blind_index("  Ann@Example.COM\n") == crypto.blind_index(
        "ann@example.com"
    )
    assert crypto.blind_index("ann@example.com") != crypto.blind_index(
        "bob@example.com"
    )
    assert "ann" not in crypto.blind_index("ann@example.com")


def test_the_blind_index_depends_on_the_index_key():
    """Another TASKER_PII_INDEX_KEY gives unrelated indexes (no global rainbow)."""
    before = crypto.blind_index("ann@example.com")
    with override_settings(TASKER_PII_INDEX_KEY=b"another-index-key-of-32-bytes!!!"):
        assert crypto.blind_index("ann@example.com") != before
    assert crypto.blind_index("ann@example.com") == before


@pytest.mark.django_db
def test_a_cached_key_expires_after_the_cache_seconds(
    monkeypatch, django_assert_num_queries
):
    """An unwrapped key is reused until TASKER_PII_KEY_CACHE_SECONDS, then re-read."""
    clock = [1000.0]
    monkeypatch.setattr(
        crypto, "time", types.SimpleNamespace(monotonic=lambda: clock[0])
    )
    row, _ = saved_key()
    crypto._cache.clear()
    with override_settings(TASKER_PII_KEY_CACHE_SECONDS=5):
        with django_assert_num_queries(1):
            crypto.box_for(row.pk)
        clock[0] += 4.9
        with django_assert_num_queries(0):
            assert crypto.box_for(row.pk).aead is not None
        clock[0] += 0.2  # 5.1 s after it was read
        with django_assert_num_queries(1):
            assert crypto.box_for(row.pk).aead is not None


@pytest.mark.django_db
def test_forget_drops_a_key_from_the_cache(django_assert_num_queries):
    row, _ = saved_key()  # new_key caches the key it makes
    with django_assert_num_queries(0):
        crypto.box_for(row.pk)
    crypto.forget([str(row.pk)])
    with django_assert_num_queries(1):
        crypto.box_for(row.pk)


@pytest.mark.django_db
def test_boxes_for_reads_many_keys_in_one_query(django_assert_num_queries):
    """A list page opens many tasks' keys with one query, then none."""
    made = [saved_key() for _ in range(6)]
    tokens = {
        row.pk: box.seal_value(f"user{i}@example.com")
        for i, (row, box) in enumerate(made)
    }
    unknown = uuid.uuid4()
    crypto._cache.clear()
    with django_assert_num_queries(1):
        boxes = crypto.boxes_for([*tokens, str(unknown), None])
    assert set(boxes) == {*tokens, unknown}
    for i, (key_id, token) in enumerate(tokens.items()):
        assert boxes[key_id].open_value(token) == f"user{i}@example.com"
    assert boxes[unknown].aead is None
    with django_assert_num_queries(0):
        crypto.boxes_for(list(tokens))
