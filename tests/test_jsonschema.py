"""The JSON Schema generator behind the sweep's requests: valid values, simplest first."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from pytest_disconnect._sweep.jsonschema import Unsupported, from_schema

DOCUMENT: dict[str, Any] = {
    "components": {"schemas": {
        "Base": {"type": "object", "properties": {"id": {"type": "integer", "minimum": 1}}, "required": ["id"]},
        "Item": {"allOf": [{"$ref": "#/components/schemas/Base"},
                           {"properties": {"name": {"type": "string", "minLength": 2, "maxLength": 5},
                                           "kind": {"enum": ["a", "b"]},
                                           "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                                           "tags": {"type": "array", "items": {"type": "string", "format": "uuid"},
                                                    "maxItems": 2}},
                            "required": ["name", "kind"]}]},
    }},
}
ITEM = {"$ref": "#/components/schemas/Item"}


def test_the_simplest_value_comes_first() -> None:
    assert find(from_schema(ITEM, root=DOCUMENT), lambda value: True) == {"id": 1, "name": "00", "kind": "a"}


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_values_are_valid(data: st.DataObject) -> None:
    value = data.draw(from_schema(ITEM, root=DOCUMENT))
    assert value["id"] >= 1 and 2 <= len(value["name"]) <= 5 and value["kind"] in ("a", "b")
    assert set(value) <= {"id", "name", "kind", "note", "tags"}
    assert value.get("note") is None or isinstance(value["note"], str)
    assert len(value.get("tags", [])) <= 2


@pytest.mark.parametrize(("schema", "simplest"), [
    ({"type": "integer", "exclusiveMinimum": 3, "multipleOf": 5}, 5),
    ({"type": "number", "minimum": 1.5}, 2.0),  # Hypothesis prefers whole numbers
    ({"type": "string", "nullable": True}, None),  # OpenAPI 3.0
    ({"type": ["integer", "null"]}, None),
    ({"const": "fixed"}, "fixed"),
    ({"type": "boolean"}, False),
    ({"type": "string", "pattern": "^ab+$"}, "ab"),
])
def test_keywords(schema: dict[str, Any], simplest: object) -> None:
    assert find(from_schema(schema), lambda value: True) == simplest


@pytest.mark.parametrize(("schema", "reason"), [
    ({"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}, "required": ["a"]}, "a $ref to nothing"),
    ({"$ref": "other.json#/x"}, "a $ref outside the document (other.json#/x)"),
    ({"type": "string", "if": {}}, "the keyword 'if'"),
    ({"$ref": "#/$defs/Node", "$defs": {"Node": {"properties": {"next": {"$ref": "#/$defs/Node"}},
                                                  "required": ["next"]}}}, "a recursive $ref (#/$defs/Node)"),
])
def test_unsupported_schemas_name_what(schema: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unsupported, match=reason.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        from_schema(schema)


def test_the_schemas_own_examples_come_first() -> None:
    schema = {"type": "string", "examples": ["foo", "bar"]}
    assert find(from_schema(schema), lambda value: True) == "foo"
    assert find(from_schema({"type": "integer", "example": 42}), lambda value: True) == 42


def test_a_keyword_outside_json_schema_is_an_annotation() -> None:
    # piccolo-api's models put column facts under 'extra' in each property: every POST, PUT and
    # PATCH route of Piccolo's admin was skipped for "the keyword 'extra'".
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 64,
                                                       "extra": {"nullable": False, "unique": False}}},
              "required": ["name"]}
    assert find(from_schema(schema), lambda value: True) == {"name": ""}


@pytest.mark.parametrize("keyword", ["not", "then", "dependentRequired", "patternProperties", "minProperties",
                                     "contains", "propertyNames", "unevaluatedItems"])
def test_a_json_schema_keyword_the_sweep_does_not_honour_is_unsupported(keyword: str) -> None:
    with pytest.raises(Unsupported, match=f"the keyword '{keyword}'"):
        from_schema({"type": "object", keyword: {}})
