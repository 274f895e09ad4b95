"""The settings fail closed: no published key, production needs its own."""

from __future__ import annotations

import base64
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent.parent
SETUP = (
    "import django, os; "
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tasker_project.settings.base'); "
    "django.setup(); "
    "from django.conf import settings; "
    "print('DEBUG', settings.DEBUG); "
    "print('PROXY_SSL', settings.SECURE_PROXY_SSL_HEADER); "
    "print('CACHE', settings.CACHES['default']['BACKEND'])"
)


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Load the base settings in a fresh interpreter with a crafted env."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DJANGO_SECRET_KEY",
            "DJANGO_DEBUG",
            "DJANGO_ALLOWED_HOSTS",
            "DJANGO_SETTINGS_MODULE",
            "SERVER_SOFTWARE",
            "TASKER_TRUSTED_PROXIES",
            "TASKER_CACHE_URL",
            "TASKER_AUDIT_KEY",
            "TASKER_PII_KEYS",
            "TASKER_PII_INDEX_KEY",
        }
    }
    base.update(TASKER_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", SETUP],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def pii_keys() -> dict[str, str]:
    """Return well-formed PII key variables (a Fernet master key, an index key)."""
    return {
        "TASKER_PII_KEYS": Fernet.generate_key().decode(),
        "TASKER_PII_INDEX_KEY": secrets.token_hex(32),
    }


def production(**env: str) -> dict[str, str]:
    """Return a production environment with every key set, overridden by ``env``."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "TASKER_AUDIT_KEY": secrets.token_hex(32),
        **pii_keys(),
        **env,
    }


def refused(result: subprocess.CompletedProcess, reason: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
    assert reason in result.stderr


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"DJANGO_DEBUG": "0"}, "DJANGO_DEBUG is off"),
        ({"DJANGO_DEBUG": "false"}, "DJANGO_DEBUG is off"),
        ({"DJANGO_ALLOWED_HOSTS": "localhost,tasker.example.com"}, "tasker.example"),
        ({"SERVER_SOFTWARE": "gunicorn/23.0.0"}, "gunicorn"),
    ],
)
def test_production_without_a_key_refuses_to_start(tmp_path, env, reason):
    refused(start(tmp_path, **env), reason)
    assert not (tmp_path / "secret_key").exists()


def test_gunicorn_by_program_name_refuses(tmp_path):
    code = "import sys; sys.argv[0] = '/usr/bin/gunicorn'; " + SETUP
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DJANGO_SECRET_KEY",
            "DJANGO_DEBUG",
            "DJANGO_ALLOWED_HOSTS",
            "TASKER_AUDIT_KEY",
        }
    }
    env["TASKER_VAR_DIR"] = str(tmp_path)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    refused(result, "gunicorn")


def test_development_generates_a_private_key_once(tmp_path):
    first = start(tmp_path, DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,[::1]")
    assert first.returncode == 0, first.stderr
    assert "DEBUG True" in first.stdout
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 50
    assert "insecure" not in key
    second = start(tmp_path)
    assert second.returncode == 0, second.stderr
    assert key_file.read_text().strip() == key


@pytest.mark.parametrize(
    "key",
    ["short-key", "django-insecure-" + "x" * 60],
)
def test_a_weak_key_is_refused(tmp_path, key):
    result = start(tmp_path, DJANGO_SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY must be at least 50" in result.stderr


def test_a_real_key_runs_production_without_trusting_proxies(tmp_path):
    result = start(
        tmp_path,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(48),
        DJANGO_ALLOWED_HOSTS="tasker.example.com",
        TASKER_AUDIT_KEY=secrets.token_hex(32),
        **pii_keys(),
    )
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout
    assert "PROXY_SSL None" in result.stdout
    assert "DatabaseCache" in result.stdout
    assert not (tmp_path / "secret_key").exists()


def test_trusted_proxies_enable_the_proxy_ssl_header_and_redis_cache(tmp_path):
    result = start(
        tmp_path,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(48),
        TASKER_TRUSTED_PROXIES="1",
        TASKER_CACHE_URL="redis://127.0.0.1:6379/15",
        TASKER_AUDIT_KEY=secrets.token_urlsafe(32),
        **pii_keys(),
    )
    assert result.returncode == 0, result.stderr
    assert "PROXY_SSL ('HTTP_X_FORWARDED_PROTO', 'https')" in result.stdout
    assert "RedisCache" in result.stdout


@pytest.mark.parametrize("value", ["-1", "10.0.0.0/33", "proxy"])
def test_malformed_trusted_proxies_are_refused(tmp_path, value):
    result = start(tmp_path, TASKER_TRUSTED_PROXIES=value)
    assert result.returncode != 0
    assert "TASKER_TRUSTED_PROXIES" in result.stderr


def test_processes_starting_together_share_one_key(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SETUP + "; print('KEY', settings.SECRET_KEY)"],
            cwd=ROOT,
            env={
                **{
                    k: v
                    for k, v in os.environ.items()
                    if k
                    not in {
                        "DJANGO_SECRET_KEY",
                        "DJANGO_DEBUG",
                        "DJANGO_ALLOWED_HOSTS",
                        "DJANGO_SETTINGS_MODULE",
                        "TASKER_AUDIT_KEY",
                    }
                },
                "TASKER_VAR_DIR": str(tmp_path),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    keys = set()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        keys.add(out.split("KEY ", 1)[1].strip())
    assert keys == {(tmp_path / "secret_key").read_text().strip()}
    # The losers' temporary files are gone; only the published key is left.
    assert sorted(p.name for p in tmp_path.iterdir() if "secret" in p.name) == [
        "secret_key"
    ]


def test_an_unusable_key_file_is_refused_not_used(tmp_path):
    """A key file left empty refuses to start rather than sign with ''."""
    (tmp_path / "secret_key").write_text("\n")
    result = start(tmp_path)
    assert result.returncode != 0
    assert "holds no usable key" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_development_generates_a_private_audit_key_once(tmp_path):
    """The embedded default keeps one random audit key in var/keys (0600)."""
    first = start(tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "keys" / "audit_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    key = key_file.read_text().strip()
    assert len(bytes.fromhex(key)) == 32
    assert start(tmp_path).returncode == 0
    assert key_file.read_text().strip() == key


def test_production_without_an_audit_key_refuses_to_start(tmp_path):
    result = start(tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(48))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "TASKER_AUDIT_KEY must be set" in result.stderr
    assert not (tmp_path / "keys" / "audit_key").exists()


@pytest.mark.parametrize(
    "key",
    [
        "",
        "too-short-" + "x" * 10,
        "ab" * 31,  # 31 bytes of hex
        "not base64 at all, no way!" * 3,
    ],
)
def test_a_malformed_audit_key_is_refused_without_echoing_it(tmp_path, key):
    """A malformed key names the variable, never the value."""
    result = start(
        tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(48), TASKER_AUDIT_KEY=key
    )
    assert result.returncode != 0
    assert "TASKER_AUDIT_KEY must be at least 32 random bytes" in result.stderr
    if key:
        assert key not in result.stderr


def test_an_unusable_audit_key_file_is_refused_not_used(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "audit_key").write_text("\n")
    result = start(tmp_path)
    assert result.returncode != 0
    assert "holds no usable key" in result.stderr
    assert "TASKER_AUDIT_KEY" in result.stderr


@pytest.mark.parametrize("variable", ["TASKER_PII_KEYS", "TASKER_PII_INDEX_KEY"])
def test_production_without_a_pii_key_refuses_to_start(tmp_path, variable):
    """With DJANGO_SECRET_KEY set, each PII key must come from the environment."""
    env = production()
    del env[variable]
    result = start(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{variable} must be set when DJANGO_SECRET_KEY is" in result.stderr
    assert not (tmp_path / "keys").exists()


def test_production_with_every_key_set_starts_and_writes_no_key_file(tmp_path):
    result = start(tmp_path, **production())
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "keys").exists()


# A Fernet key is 32 bytes of url-safe base64; these are not.
SHORT_FERNET = base64.urlsafe_b64encode(b"sixteen-bytes-ok").decode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not-a-key", "TASKER_PII_KEYS: key 1 is not a Fernet key"),
        (SHORT_FERNET, "TASKER_PII_KEYS: key 1 is not a Fernet key"),
        (
            Fernet.generate_key().decode() + ",not-a-key-either",
            "TASKER_PII_KEYS: key 2 is not a Fernet key",
        ),
        (" , ", "TASKER_PII_KEYS must hold at least one Fernet key"),
    ],
)
def test_a_malformed_pii_master_key_is_refused_without_echoing_it(
    tmp_path, value, reason
):
    """The message names the variable and the key's position, never the value."""
    result = start(tmp_path, **production(TASKER_PII_KEYS=value))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert reason in result.stderr
    for part in value.split(","):
        if part.strip():
            assert part.strip() not in result.stderr


@pytest.mark.parametrize(
    "value", ["not-a-key-at-all-zzzz", "ab" * 16, SHORT_FERNET, "not base64 !!" * 4]
)
def test_a_malformed_pii_index_key_is_refused_without_echoing_it(tmp_path, value):
    result = start(tmp_path, **production(TASKER_PII_INDEX_KEY=value))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "TASKER_PII_INDEX_KEY must be at least 32 random bytes" in result.stderr
    assert value not in result.stderr


def test_development_generates_private_pii_keys_once(tmp_path):
    """The embedded default keeps a master and an index key in var/keys (0600)."""
    probe = (
        SETUP + "; print('PII', settings.TASKER_PII_KEYS[0].decode(), "
        "settings.TASKER_PII_INDEX_KEY.hex())"
    )
    first = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("DJANGO_", "TASKER_"))
            },
            "TASKER_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == 0, first.stderr
    keys = tmp_path / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    master_file, index_file = keys / "pii_keys", keys / "pii_index_key"
    for key_file in (master_file, index_file):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    master = master_file.read_text().strip()
    Fernet(master)  # a usable Fernet key
    assert len(bytes.fromhex(index_file.read_text().strip())) == 32
    # The settings use the files' keys, and a second start keeps them.
    assert f"PII {master} {index_file.read_text().strip()}" in first.stdout
    assert start(tmp_path).returncode == 0
    assert master_file.read_text().strip() == master


@pytest.mark.parametrize(
    ("file_name", "variable"),
    [("pii_keys", "TASKER_PII_KEYS"), ("pii_index_key", "TASKER_PII_INDEX_KEY")],
)
def test_an_unusable_pii_key_file_is_refused_not_used(tmp_path, file_name, variable):
    (tmp_path / "keys").mkdir(mode=0o700)
    (tmp_path / "keys" / file_name).write_text("garbage\n")
    result = start(tmp_path)
    assert result.returncode != 0
    assert "holds no usable key" in result.stderr
    assert variable in result.stderr
