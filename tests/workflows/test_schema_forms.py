"""Forms generated from a context JSON Schema (workflows.schema_forms)."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms

from workflows.schema_forms import SchemaForm, build_schema_form

REFUND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["payment_id", "refund_amount", "refund_reason"],
    "properties": {
        "customer_email": {"type": "string", "format": "email", "maxLength": 254},
        "payment_id": {
            "type": "string",
            "pattern": "^pay_[A-Za-z0-9]+$",
            "maxLength": 40,
            "description": "The captured payment.",
        },
        "refund_amount": {"type": "integer", "minimum": 1, "maximum": 100000},
        "refund_reason": {
            "type": "string",
            "enum": ["customer_request", "fraud", "chargeback"],
        },
        "partial_refund": {"type": "boolean"},
        "fee_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "simulate": {"type": "object"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}
VALID = {
    "payment_id": "pay_1001",
    "refund_amount": "15000",
    "refund_reason": "fraud",
}


def form_for(data: dict[str, Any], schema: dict[str, Any] | None = None) -> SchemaForm:
    form_class = build_schema_form(schema or REFUND_SCHEMA)
    return form_class(data)


class TestFields:
    def test_each_json_type_gets_its_field(self):
        fields = build_schema_form(REFUND_SCHEMA)().fields
        assert isinstance(fields["payment_id"], forms.CharField)
        assert isinstance(fields["customer_email"], forms.EmailField)
        assert isinstance(fields["refund_amount"], forms.IntegerField)
        assert isinstance(fields["refund_reason"], forms.ChoiceField)
        assert isinstance(fields["fee_rate"], forms.FloatField)
        assert isinstance(fields["partial_refund"], forms.ChoiceField)  # tri-state
        assert isinstance(fields["simulate"].widget, forms.Textarea)
        assert isinstance(fields["tags"].widget, forms.Textarea)

    def test_required_properties_come_first_and_are_required(self):
        fields = build_schema_form(REFUND_SCHEMA)().fields
        assert list(fields)[:3] == ["payment_id", "refund_amount", "refund_reason"]
        assert {name for name, f in fields.items() if f.required} == {
            "payment_id",
            "refund_amount",
            "refund_reason",
        }

    def test_description_becomes_help_text(self):
        fields = build_schema_form(REFUND_SCHEMA)().fields
        assert fields["payment_id"].help_text == "The captured payment."

    def test_a_required_boolean_is_a_checkbox_that_may_be_left_unticked(self):
        schema = {
            "type": "object",
            "required": ["notify"],
            "properties": {"notify": {"type": "boolean"}},
        }
        form = form_for({}, schema)
        assert isinstance(form.fields["notify"], forms.BooleanField)
        assert form.is_valid(), form.errors
        assert form.assemble_context() == {"notify": False}


class TestValidation:
    def test_valid_input_assembles_the_context_without_empty_optional_fields(self):
        form = form_for({**VALID, "customer_email": "", "fee_rate": ""})
        assert form.is_valid(), form.errors
        assert form.assemble_context() == {
            "payment_id": "pay_1001",
            "refund_amount": 15000,
            "refund_reason": "fraud",
        }

    def test_missing_required_fields_are_errors(self):
        form = form_for({})
        assert not form.is_valid()
        assert set(form.errors) == {"payment_id", "refund_amount", "refund_reason"}

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("payment_id", "tx_1001"),  # pattern
            ("payment_id", "pay_" + "1" * 40),  # maxLength
            ("refund_amount", "0"),  # minimum
            ("refund_amount", "100001"),  # maximum
            ("refund_amount", "1.5"),  # not an integer
            ("fee_rate", "1.5"),  # number maximum
            ("customer_email", "not-an-address"),  # format email
            ("refund_reason", "whim"),  # not in the enum
        ],
    )
    def test_a_value_the_schema_forbids_is_an_error_on_its_field(self, field, value):
        form = form_for({**VALID, field: value})
        assert not form.is_valid()
        assert list(form.errors) == [field]

    def test_min_length_is_checked(self):
        schema = {
            "type": "object",
            "properties": {"code": {"type": "string", "minLength": 3}},
        }
        form = form_for({"code": "ab"}, schema)
        assert not form.is_valid()
        assert "code" in form.errors

    def test_enum_members_that_are_not_strings_come_back_as_themselves(self):
        schema = {
            "type": "object",
            "required": ["tier"],
            "properties": {"tier": {"enum": [1, 2, "gold"]}},
        }
        form = form_for({"tier": "2"}, schema)
        assert form.is_valid(), form.errors
        assert form.assemble_context() == {"tier": 2}

    @pytest.mark.parametrize(
        ("choice", "expected"),
        [("true", {"partial_refund": True}), ("false", {"partial_refund": False})],
    )
    def test_an_optional_boolean_is_yes_no_or_left_out(self, choice, expected):
        given = form_for({**VALID, "partial_refund": choice})
        assert given.is_valid(), given.errors
        assert given.assemble_context().items() >= expected.items()
        omitted = form_for({**VALID, "partial_refund": ""})
        assert omitted.is_valid(), omitted.errors
        assert "partial_refund" not in omitted.assemble_context()


class TestJSONFields:
    def test_nested_object_is_parsed_from_json(self):
        form = form_for({**VALID, "simulate": '{"notify_customer": ["timeout"]}'})
        assert form.is_valid(), form.errors
        assert form.assemble_context()["simulate"] == {"notify_customer": ["timeout"]}

    def test_array_is_parsed_from_json(self):
        form = form_for({**VALID, "tags": '["a", "b"]'})
        assert form.is_valid(), form.errors
        assert form.assemble_context()["tags"] == ["a", "b"]

    @pytest.mark.parametrize(
        ("field", "text"),
        [("simulate", "{oops"), ("simulate", "[1]"), ("tags", '{"a": 1}')],
    )
    def test_invalid_or_mistyped_json_is_an_error_on_its_field(self, field, text):
        form = form_for({**VALID, field: text})
        assert not form.is_valid()
        assert list(form.errors) == [field]

    def test_a_schema_without_properties_falls_back_to_one_raw_json_field(self):
        form_class = build_schema_form({"type": "object"}, {"anything": [1, 2]})
        assert form_class.raw_json
        unbound = form_class()
        assert list(unbound.fields) == ["context"]
        assert '"anything"' in unbound["context"].value()
        form = form_class({"context": '{"x": {"y": 1}}'})
        assert form.is_valid(), form.errors
        assert form.assemble_context() == {"x": {"y": 1}}
        assert not form_class({"context": "[1]"}).is_valid()

    def test_context_errors_are_placed_on_the_field_of_their_path(self):
        form = form_for({**VALID, "tags": '["a"]'})
        assert form.is_valid()
        assert form.add_context_error("tags.0", "'a' is too short")
        assert form.add_context_error("payment_id", "unknown payment")
        assert not form.add_context_error("unknown_prop", "not allowed")
        assert form.errors["tags"] == ["0: 'a' is too short"]
        assert form.errors["payment_id"] == ["unknown payment"]


class TestInitial:
    def test_initial_values_come_from_the_example_context(self):
        example = {
            "payment_id": "pay_1002",
            "refund_amount": 2500,
            "partial_refund": True,
            "simulate": {"notify_customer": ["timeout"]},
        }
        form = build_schema_form(REFUND_SCHEMA, example)()
        assert form["payment_id"].value() == "pay_1002"
        assert form["refund_amount"].value() == 2500
        assert form["partial_refund"].value() == "true"
        assert '"notify_customer"' in form["simulate"].value()
        assert form["customer_email"].value() is None

    def test_a_property_default_is_the_initial_value_without_an_example(self):
        schema = {
            "type": "object",
            "properties": {"reason": {"type": "string", "default": "customer_request"}},
        }
        assert build_schema_form(schema)()["reason"].value() == "customer_request"
