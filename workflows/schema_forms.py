"""Django forms generated from a workflow's context JSON Schema.

A person starting a task fills one field per context property instead of
typing JSON: the form checks what a form can (types, required, patterns,
bounds, choices) and the service validates the assembled context against
the full schema again, so the schema stays the single contract. Anything a
plain field cannot express (nested objects, arrays, unions, ``$ref``) is a
JSON textarea for that property; a schema with no properties gets one JSON
textarea for the whole context.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from tasker_project.core.json_values import json_value_errors

RAW_CONTEXT_FIELD = "context"
JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "null": type(None),
}
# Strings allowed to be this long get a textarea instead of a one-line input.
LONG_TEXT = 255
EMPTY_CHOICE = ("", "—")


def parse_json_text(text: str) -> Any:
    """Return ``text`` parsed as JSON that can be stored; raise ValidationError.

    The admin's JSON textareas all read through here, so they refuse what
    the API refuses (:mod:`tasker_project.core.json_values`), each problem by its path
    inside the field.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            "Enter valid JSON: %(error)s",
            code="invalid_json",
            params={"error": f"{exc.msg} (line {exc.lineno}, column {exc.colno})"},
        ) from exc
    except (ValueError, RecursionError) as exc:
        # An integer too long to read, or nesting too deep for the parser.
        raise forms.ValidationError(
            "Enter valid JSON: %(error)s",
            code="invalid_json",
            params={"error": str(exc) if isinstance(exc, ValueError) else "too deep"},
        ) from exc
    problems = json_value_errors(value, field="")
    if problems:
        raise forms.ValidationError(
            [
                forms.ValidationError(
                    message if path == "$" else f"{path}: {message}",
                    code="unstorable_json",
                )
                for path, messages in problems.items()
                for message in messages
            ]
        )
    return value


class JSONValueField(forms.CharField):
    """A textarea holding one JSON value, optionally of one JSON type.

    Empty input is "not given" (``None``); ``null`` typed in is ``None`` too,
    which the schema then judges.
    """

    widget = forms.Textarea(attrs={"rows": 6, "cols": 80, "class": "tasker-json"})

    def __init__(self, *, json_type: str | None = None, **kwargs: Any) -> None:
        self.json_type = json_type
        kwargs.setdefault("strip", True)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        parsed = parse_json_text(str(text))
        if self.json_type and not is_json_type(parsed, self.json_type):
            raise forms.ValidationError(
                "Enter a JSON %(expected)s, not %(kind)s.",
                code="wrong_json_type",
                params={"expected": self.json_type, "kind": _json_type_of(parsed)},
            )
        return parsed

    def validate(self, value: Any) -> None:
        if value is None and self.required:
            raise forms.ValidationError(self.error_messages["required"], "required")


class TriStateBooleanField(forms.TypedChoiceField):
    """An optional boolean: yes, no, or not given (left out of the context)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            choices=[("", "— (not given)"), ("true", "Yes"), ("false", "No")],
            coerce=lambda value: value == "true",
            empty_value=None,
            required=False,
            **kwargs,
        )

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value


def is_json_type(value: Any, json_type: str) -> bool:
    """Return whether ``value`` is of the JSON Schema ``json_type`` (unknown: yes)."""
    if json_type not in JSON_TYPES:
        return True
    if isinstance(value, bool):
        return json_type == "boolean"
    if json_type == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, JSON_TYPES[json_type])


def _json_type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    for name, kind in JSON_TYPES.items():
        if name != "number" and isinstance(value, kind):
            return name
    return "number" if isinstance(value, float) else type(value).__name__


def _enum_field(
    values: list[Any], *, required: bool, common: dict[str, Any]
) -> forms.Field:
    """Return a choice field whose cleaned value is the enum member itself."""
    by_key = {v if isinstance(v, str) else json.dumps(v): v for v in values}
    choices = [(key, key) for key in by_key]
    if not required:
        choices.insert(0, EMPTY_CHOICE)

    class EnumField(forms.TypedChoiceField):
        def prepare_value(self, value: Any) -> Any:
            if value is None or isinstance(value, str):
                return value
            return json.dumps(value)

    return EnumField(
        choices=choices,
        coerce=by_key.__getitem__,
        empty_value=None,
        required=required,
        **common,
    )


def _bounds(schema: dict[str, Any], integer: bool) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    step = 1 if integer else 0
    if isinstance(schema.get("minimum"), int | float):
        bounds["min_value"] = schema["minimum"]
    if isinstance(schema.get("exclusiveMinimum"), int | float) and integer:
        bounds["min_value"] = schema["exclusiveMinimum"] + step
    if isinstance(schema.get("maximum"), int | float):
        bounds["max_value"] = schema["maximum"]
    if isinstance(schema.get("exclusiveMaximum"), int | float) and integer:
        bounds["max_value"] = schema["exclusiveMaximum"] - step
    return bounds


def _string_field(
    schema: dict[str, Any], *, required: bool, common: dict[str, Any]
) -> forms.Field:
    lengths = {
        key: schema[json_key]
        for key, json_key in (("min_length", "minLength"), ("max_length", "maxLength"))
        if isinstance(schema.get(json_key), int)
    }
    validators = []
    if isinstance(schema.get("pattern"), str):
        validators.append(
            RegexValidator(
                schema["pattern"],
                message=f"Enter a value matching {schema['pattern']}.",
                code="pattern",
            )
        )
    if schema.get("format") == "email":
        return forms.EmailField(
            required=required, validators=validators, **lengths, **common
        )
    long = lengths.get("max_length") is None or lengths["max_length"] > LONG_TEXT
    widget = forms.Textarea(attrs={"rows": 3, "cols": 80}) if long else None
    return forms.CharField(
        required=required,
        validators=validators,
        widget=widget,
        **lengths,
        **common,
    )


def field_for_property(
    name: str, schema: Any, *, required: bool, initial: Any = None
) -> forms.Field:
    """Return the form field for one context property's schema."""
    schema = schema if isinstance(schema, dict) else {}
    common: dict[str, Any] = {
        # The property name as the API and the schema's messages spell it.
        "label": schema.get("title") or name,
        "help_text": schema.get("description", ""),
        "initial": initial,
    }
    kind = schema.get("type")
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _enum_field(schema["enum"], required=required, common=common)
    if kind == "string":
        return _string_field(schema, required=required, common=common)
    if kind == "integer":
        return forms.IntegerField(
            required=required, **_bounds(schema, integer=True), **common
        )
    if kind == "number":
        return forms.FloatField(
            required=required, **_bounds(schema, integer=False), **common
        )
    if kind == "boolean":
        if required:
            return forms.BooleanField(required=False, **common)
        return TriStateBooleanField(**common)
    return JSONValueField(
        json_type=kind if isinstance(kind, str) else None,
        required=required,
        **common,
    )


class SchemaForm(forms.Form):
    """Base of generated forms; :meth:`context` assembles the JSON object."""

    raw_json = False
    # The admin shows labels of this class in bold.
    required_css_class = "required"
    # Property names in schema order (field names equal property names).
    properties: tuple[str, ...] = ()
    required_properties: frozenset[str] = frozenset()

    def assemble_context(self) -> dict[str, Any]:
        """Return the context from cleaned data, leaving out empty optional fields."""
        if self.raw_json:
            return self.cleaned_data[RAW_CONTEXT_FIELD]
        context: dict[str, Any] = {}
        for name in self.properties:
            value = self.cleaned_data.get(name)
            if name in self.required_properties or value not in (None, ""):
                context[name] = value
        return context

    def add_context_error(self, path: str, message: str) -> bool:
        """Put a schema error at ``path`` (dotted, under the context) on its field.

        Return False when no field holds that path.
        """
        head, _, rest = path.partition(".")
        if self.raw_json:
            self.add_error(RAW_CONTEXT_FIELD, f"{path}: {message}" if path else message)
            return True
        if head in self.fields:
            self.add_error(head, f"{rest}: {message}" if rest else message)
            return True
        return False


class RawContextForm(SchemaForm):
    """The whole context as one JSON object: for schemas without properties."""

    raw_json = True


def build_schema_form(
    schema: Any, example: Any = None, *, name: str = "ContextForm"
) -> type[SchemaForm]:
    """Return a Form class with one field per property of ``schema``.

    Required properties come first, in the schema's ``required`` order (a
    list keeps its order everywhere), then the others alphabetically:
    PostgreSQL stores schemas as ``jsonb``, which does not keep key order,
    so the schema's own property order cannot be relied on. ``example`` (the
    definition's example context) supplies initial values, else a
    property's ``default``.
    """
    schema = schema if isinstance(schema, dict) else {}
    example = example if isinstance(example, dict) else {}
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        field = JSONValueField(
            json_type="object",
            required=True,
            label="context",
            initial=example,
            help_text="The task context, a JSON object.",
        )
        field.widget = forms.Textarea(
            attrs={"rows": 16, "cols": 80, "class": "vLargeTextField tasker-json"}
        )
        return type(name, (RawContextForm,), {RAW_CONTEXT_FIELD: field})
    required_list = schema.get("required")
    required = [
        p
        for p in (required_list if isinstance(required_list, list) else [])
        if p in properties
    ]
    order = [*required, *sorted(p for p in properties if p not in required)]
    fields: dict[str, Any] = {
        prop: field_for_property(
            prop,
            properties[prop],
            required=prop in required,
            initial=example.get(prop, _default_of(properties[prop])),
        )
        for prop in order
    }
    attrs: dict[str, Any] = {
        **fields,
        "properties": tuple(order),
        "required_properties": frozenset(required),
    }
    return type(name, (SchemaForm,), attrs)


def _default_of(schema: Any) -> Any:
    return schema.get("default") if isinstance(schema, dict) else None
