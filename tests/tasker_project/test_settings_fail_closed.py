"""The settings fail closed: no published key, production needs its own."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

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
