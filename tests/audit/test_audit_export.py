"""The audit list exports as CSV or JSON, scoped, redacted, and audited."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.export import safe_cell
from audit.models import AuditEvent
from audit.trail import audit_record
from namespaces.models import Namespace
from tasker_project.core.actors import Actor
from tests.api.conftest import bearer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
EXPORT = "/api/v1/audit/export/"
EMAIL = "jane@example.com"


def user(username: str, roles: dict[str, list[str]], **extra: Any) -> AbstractBaseUser:
    return UserFactory(
        username=username,
        roles={
            Namespace.objects.get(slug=slug): names for slug, names in roles.items()
        },
        **extra,
    )


def api(who: AbstractBaseUser) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(who))
    return client


def record(namespace: str | None, **fields: Any) -> AuditEvent:
    with transaction.atomic():
        return audit_record(
            actor=Actor.system_actor(fields.pop("actor", "test")),
            namespace=Namespace.objects.get(slug=namespace) if namespace else None,
            **{"object_type": "thing", "object_id": "1", **fields},
        )


@pytest.fixture
def trail(synced) -> dict[str, Any]:
    """Events of testing and crossteam (one before ``middle``), one global."""
    early = record("testing", action="x.early", actor="alpha", object_id="e1")
    middle = timezone.now()
    events = {
        "early": early,
        "late": record(
            "testing",
            action="x.late",
            actor="beta",
            object_type="task",
            object_id="l1",
            reason=f'=HYPERLINK("http://evil") for {EMAIL}',
            metadata={"customer_email": EMAIL, "cmd": "@SUM(1)"},
        ),
        "cross": record("crossteam", action="x.cross", actor="gamma"),
        "global": record(None, action="x.global", actor="delta"),
    }
    return {"middle": middle, **events}


def exported_json(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    return json.loads(response.content)


def actions(rows: list[dict[str, Any]]) -> set[str]:
    """The actions of the test's own events (``x.…``) among ``rows``."""
    return {row["action"] for row in rows if row["action"].startswith("x.")}


def test_maintainer_exports_only_their_namespaces_events_as_json(trail):
    """A maintainer of testing (viewer of crossteam) gets testing's events only."""
    who = user("maint", {"testing": ["maintainer"], "crossteam": ["viewer"]})
    rows = exported_json(api(who).get(EXPORT, {"format": "json"}))
    assert actions(rows) == {"x.early", "x.late"}
    assert {row["namespace"] for row in rows} == {"testing"}


def test_superuser_exports_every_event_including_global_ones(trail):
    root = user("root", {}, is_superuser=True, is_staff=True)
    rows = exported_json(api(root).get(EXPORT))
    assert {"x.early", "x.late", "x.cross", "x.global"} <= actions(rows)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "system:alpha"}, {"x.early"}),
        ({"action": "x.late"}, {"x.late"}),
        ({"object_type": "task"}, {"x.late"}),
        ({"object_id": "e1"}, {"x.early"}),
        ({"object_type": "thing", "object_id": "e1"}, {"x.early"}),
    ],
)
def test_each_filter_narrows_the_export(trail, params, expected):
    root = user("root", {}, is_superuser=True)
    rows = exported_json(api(root).get(EXPORT, {"format": "json", **params}))
    assert actions(rows) == expected


def test_date_range_filters_since_inclusive_until_exclusive(trail):
    root = user("root", {}, is_superuser=True)
    middle = trail["middle"].isoformat()
    after = exported_json(api(root).get(EXPORT, {"since": middle}))
    before = exported_json(api(root).get(EXPORT, {"until": middle}))
    assert "x.early" not in actions(after) and "x.late" in actions(after)
    assert "x.early" in actions(before) and "x.late" not in actions(before)


def test_csv_export_has_a_header_and_neutralises_formula_cells(trail):
    """Cells starting with = + - @ are prefixed with a quote; the rest as is."""
    root = user("root", {}, is_superuser=True)
    response = api(root).get(EXPORT, {"format": "csv", "action": "x.late"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    assert rows[0]["action"] == "x.late"
    assert rows[0]["reason"].startswith("'=HYPERLINK")
    assert json.loads(rows[0]["metadata"])["cmd"] == "@SUM(1)"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"])
def test_safe_cell_prefixes_every_formula_start(value):
    assert safe_cell(value) == f"'{value}"
    assert safe_cell("plain") == "plain"


def test_personal_data_is_masked_for_a_maintainer_without_pii_viewer(trail):
    plain = user("maint", {"testing": ["maintainer"]})
    pii = user("maintpii", {"testing": ["maintainer", "pii_viewer"]})
    masked = exported_json(api(plain).get(EXPORT, {"action": "x.late"}))
    shown = exported_json(api(pii).get(EXPORT, {"action": "x.late"}))

    assert masked[0]["metadata"]["customer_email"] == "j***@example.com"
    assert EMAIL not in masked[0]["reason"]
    assert shown[0]["metadata"]["customer_email"] == EMAIL
    assert EMAIL in shown[0]["reason"]


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "pii_viewer"])
def test_non_maintainers_are_refused_and_nothing_is_exported(trail, role):
    who = user("someone", {"testing": [role]})
    response = api(who).get(EXPORT)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_export_is_audited_with_its_filters_and_row_count(trail):
    who = user("maint", {"testing": ["maintainer"]})
    rows = exported_json(
        api(who).get(EXPORT, {"format": "json", "actor": "system:beta"})
    )

    event = AuditEvent.objects.get(action="audit.exported")
    assert event.actor_label == "maint"
    assert event.metadata["format"] == "json"
    assert event.metadata["rows"] == len(rows) == 1
    assert event.metadata["filters"] == {"actor": "system:beta"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"format": "xml"}, "format"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(trail, params, field):
    root = user("root", {}, is_superuser=True)
    response = api(root).get(EXPORT, params)
    assert response.status_code == 400
    body = response.json()["error"]
    assert set(body["fields"]) == {field}
    assert field in body["message"]
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_anonymous_is_401(trail):
    assert APIClient().get(EXPORT).status_code == 401


class TestAdminExport:
    def changelist(self) -> str:
        return reverse("admin:audit_auditevent_changelist")

    def post(self, client: Any, action: str, events: list[AuditEvent]) -> Any:
        return client.post(
            self.changelist() + "?action__exact=x.late",
            {"action": action, "_selected_action": [str(e.pk) for e in events]},
        )

    def test_maintainer_sees_the_actions_and_exports_only_their_events(
        self, client, trail
    ):
        who = user(
            "maint", {"testing": ["maintainer"], "crossteam": ["viewer"]}, is_staff=True
        )
        client.force_login(who)
        page = client.get(self.changelist())
        assert "export_csv" in page.content.decode()

        response = self.post(client, "export_json", [trail["late"], trail["cross"]])

        assert response.status_code == 200
        rows = json.loads(response.content)
        assert [row["action"] for row in rows] == ["x.late"]
        event = AuditEvent.objects.get(action="audit.exported")
        assert event.metadata["rows"] == 1
        assert event.metadata["admin_query"] == "action__exact=x.late"

    def test_superuser_exports_csv_honouring_the_changelist_filter(self, client, trail):
        """Selected rows outside the list's current filter are not exported."""
        client.force_login(user("root", {}, is_superuser=True, is_staff=True))
        response = self.post(client, "export_csv", [trail["late"], trail["global"]])
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [row["action"] for row in rows] == ["x.late"]

    def test_other_viewers_do_not_see_the_export_actions(self, client, trail):
        who = user("viewer", {"testing": ["viewer", "pii_viewer"]}, is_staff=True)
        client.force_login(who)
        page = client.get(self.changelist())
        assert page.status_code == 200
        assert "export_csv" not in page.content.decode()
        self.post(client, "export_csv", [trail["late"]])
        assert not AuditEvent.objects.filter(action="audit.exported").exists()
