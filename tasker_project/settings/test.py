"""Test settings: the base settings with fast hashing and short leases.

The test database is a file for SQLite (not ``:memory:``) so that a real
Celery worker subprocess can open the very database the tests write.
"""

import os

os.environ.setdefault("TASKER_LEASE_GRACE_SECONDS", "1")
os.environ.setdefault("TASKER_REPUBLISH_AFTER", "2")
# The suite makes thousands of requests; the throttling test sets its own rates.
for _scope in ("USER", "ANON", "AUTH"):
    os.environ.setdefault(f"TASKER_THROTTLE_{_scope}", "100000/min")
# A fixed audit-chain key (32 bytes, hex): not a secret, tests only.
os.environ.setdefault("TASKER_AUDIT_KEY", "7465737473" * 12 + "7465")
# Fixed PII keys (a Fernet master key, a blind-index key): tests only.
os.environ.setdefault("TASKER_PII_KEYS", "dGVzdHMtcGlpLW1hc3Rlci1rZXktMzItYnl0ZXMhISE=")
os.environ.setdefault("TASKER_PII_INDEX_KEY", "696e646578" * 12 + "6964")
os.environ.setdefault("TASKER_VAR_DIR", os.path.join(os.getcwd(), "var", "test"))

from tasker_project.settings.base import *  # noqa: E402, F403
from tasker_project.settings.base import DATABASES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_suffix = os.environ.get("TASKER_TEST_DB_SUFFIX", "")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test{_suffix}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_tasker{_suffix}"}
DATABASES["default"]["CONN_MAX_AGE"] = 0
