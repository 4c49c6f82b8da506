"""JSON Schema -> Hypothesis strategy, for the schemas web frameworks publish in OpenAPI documents.

Why not a library: hypothesis-jsonschema (0.23.1, the last release) fails on any
object schema with current Hypothesis (it calls a conjecture internal that
changed), and Schemathesis patches Hypothesis process-wide when it loads (its
falsifying-example printer becomes a no-op, so every Hypothesis test in the run
prints ``x=,``, including this plugin's own). This module covers what FastAPI,
Litestar and pydantic emit: ``$ref``, ``type``, ``enum``, ``const``,
``anyOf``/``oneOf``, ``allOf`` of objects, OpenAPI 3.0's ``nullable``, string
lengths, patterns and common formats, numeric bounds, arrays and objects.
Any other JSON Schema keyword (``if``, ``not``, ``patternProperties``, ...) raises
``Unsupported`` naming it, and the route is skipped with that reason; a keyword
JSON Schema does not define (piccolo-api's ``extra``) is an annotation, ignored.

Every strategy shrinks towards the simplest value: optional properties absent,
empty strings and lists at their minimum, 0 or the lower bound.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import strategies as st

Schema = Mapping[str, Any]

#: Keywords that only document (or that a generated value needs not honour).
_IGNORED = frozenset({
    "title", "description", "default", "examples", "example", "deprecated", "readOnly", "writeOnly",
    "$schema", "$id", "$comment", "discriminator", "xml", "externalDocs", "contentMediaType",
    "contentEncoding", "uniqueItems", "x-", "additionalProperties", "unevaluatedProperties", "$defs",
    "definitions", "components",
})
_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "uuid": st.uuids().map(str),
    "date": st.dates().map(lambda day: day.isoformat()),
    "date-time": st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    "time": st.times().map(lambda moment: moment.isoformat()),
    "email": st.from_regex(r"[a-z]{1,8}@example\.com", fullmatch=True),
    "uri": st.from_regex(r"https://example\.com/[a-z]{0,8}", fullmatch=True),
    "ipv4": st.ip_addresses(v=4).map(str),
    "ipv6": st.ip_addresses(v=6).map(str),
}


class Unsupported(Exception):
    """The schema uses something this generator does not draw; the message says what."""


def from_schema(schema: Schema, *, root: Schema | None = None) -> st.SearchStrategy[Any]:
    """Values valid against ``schema``; ``root`` is the document its ``$ref``s point into."""
    return _Builder(root if root is not None else schema).build(schema, ())


class _Builder:
    def __init__(self, root: Schema) -> None:
        self.root = root

    def build(self, schema: Schema | bool, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        if schema is True or schema == {}:
            return st.none()  # anything goes: the simplest JSON value
        if schema is False:
            raise Unsupported("a schema that accepts nothing (false)")
        assert isinstance(schema, Mapping)
        if "$ref" in schema:
            ref = str(schema["$ref"])
            if ref in refs:
                raise Unsupported(f"a recursive $ref ({ref})")
            target = self.resolve(ref)
            rest = {key: value for key, value in schema.items() if key != "$ref"}
            merged = {**target, **rest} if rest else target
            return self.build(merged, (*refs, ref))
        examples = _examples(schema)
        if examples:
            # The schema's own examples first: the values the app's authors know it accepts.
            rest = {key: value for key, value in schema.items() if key not in ("example", "examples")}
            return st.one_of(st.sampled_from(examples), self.build(rest, refs))
        if schema.get("nullable") is True:
            return st.one_of(st.none(), self.build({k: v for k, v in schema.items() if k != "nullable"}, refs))
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(list(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                rest = {k: v for k, v in schema.items() if k != key}
                return st.one_of(*(self.build({**rest, **branch}, refs) for branch in schema[key]))
        if "allOf" in schema:
            return self.build(self.merge(schema, refs), refs)
        unknown = sorted(key for key in schema if key in _UNHONOURED)
        if unknown:
            raise Unsupported(f"the keyword {unknown[0]!r}")
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of(*(self.build({**schema, "type": one}, refs) for one in kind))
        if kind is None:
            kind = _guess_type(schema)
        builder = _TYPES.get(kind)
        if builder is None:
            raise Unsupported(f"the type {kind!r}")
        return builder(self, schema, refs)

    def resolve(self, ref: str) -> Schema:
        if not ref.startswith("#/"):
            raise Unsupported(f"a $ref outside the document ({ref})")
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise Unsupported(f"a $ref to nothing ({ref})")
            node = node[part]
        if not isinstance(node, Mapping):
            raise Unsupported(f"a $ref to a non-schema ({ref})")
        return node

    def merge(self, schema: Schema, refs: tuple[str, ...]) -> Schema:
        """allOf of object schemas (pydantic's inheritance): properties and required united."""
        merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
        properties: dict[str, Any] = dict(merged.pop("properties", {}))
        required: list[str] = list(merged.pop("required", []))
        for part in schema["allOf"]:
            while "$ref" in part:
                part = self.resolve(str(part["$ref"]))
            if "allOf" in part:
                part = self.merge(part, refs)
            for key, value in part.items():
                if key == "properties":
                    properties.update(value)
                elif key == "required":
                    required += [name for name in value if name not in required]
                elif key not in merged:
                    merged[key] = value
                elif merged[key] != value and key not in _IGNORED:
                    raise Unsupported(f"allOf parts that disagree on {key!r}")
        if properties:
            merged["properties"] = properties
            merged.setdefault("type", "object")
        if required:
            merged["required"] = required
        return merged


def _examples(schema: Schema) -> list[Any]:
    examples = schema.get("examples")
    found = list(examples) if isinstance(examples, list) else []
    if "example" in schema:
        found.insert(0, schema["example"])
    return found


def _guess_type(schema: Schema) -> str:
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    if any(key in schema for key in ("minLength", "maxLength", "pattern", "format")):
        return "string"
    if any(key in schema for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return "null"


def _string(builder: _Builder, schema: Schema, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
    min_size = int(schema.get("minLength", 0))
    max_size = schema.get("maxLength")
    if "pattern" in schema:
        pattern = str(schema["pattern"])
        try:
            re.compile(pattern)
        except re.error:
            raise Unsupported(f"the pattern {pattern!r} (not a Python regular expression)") from None
        strategy = st.from_regex(pattern)
        return strategy.filter(lambda text: min_size <= len(text) <= (max_size if max_size is not None else math.inf))
    if "format" in schema and schema["format"] in _FORMATS:
        return _FORMATS[schema["format"]]
    # Printable ASCII: a readable request in the report, and any handler can decode it.
    return st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=min_size,
                   max_size=int(max_size) if max_size is not None else max(min_size, 20))


def _bounds(schema: Schema) -> tuple[float | None, float | None, bool, bool]:
    low, high = schema.get("minimum"), schema.get("maximum")
    exclusive_low = exclusive_high = False
    for key, is_low in (("exclusiveMinimum", True), ("exclusiveMaximum", False)):
        value = schema.get(key)
        if isinstance(value, bool):  # OpenAPI 3.0: a flag on minimum/maximum
            exclusive_low, exclusive_high = (value, exclusive_high) if is_low else (exclusive_low, value)
        elif isinstance(value, (int, float)):
            if is_low:
                low, exclusive_low = value, True
            else:
                high, exclusive_high = value, True
    return low, high, exclusive_low, exclusive_high


def _integer(builder: _Builder, schema: Schema, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
    low, high, exclusive_low, exclusive_high = _bounds(schema)
    lowest = None if low is None else math.floor(low) + 1 if exclusive_low else math.ceil(low)
    highest = None if high is None else math.ceil(high) - 1 if exclusive_high else math.floor(high)
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0:
        return st.integers(min_value=None if lowest is None else -(-lowest // step),
                           max_value=None if highest is None else highest // step).map(lambda n: n * step)
    if lowest is None and highest is None:
        # Small numbers first: ids such as 1 or 2 are what an app's routes usually accept.
        return st.one_of(st.integers(min_value=0, max_value=10), st.integers())
    return st.integers(min_value=lowest, max_value=highest)


def _number(builder: _Builder, schema: Schema, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
    if "multipleOf" in schema:
        raise Unsupported("multipleOf on a number")
    low, high, exclusive_low, exclusive_high = _bounds(schema)
    return st.floats(min_value=low, max_value=high, exclude_min=exclusive_low and low is not None,
                     exclude_max=exclusive_high and high is not None, allow_nan=False, allow_infinity=False)


def _array(builder: _Builder, schema: Schema, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
    items = schema.get("items", {})
    if isinstance(items, list) or "prefixItems" in schema:
        raise Unsupported("tuple-style arrays (items as a list, prefixItems)")
    min_size = int(schema.get("minItems", 0))
    max_size = schema.get("maxItems")
    return st.lists(builder.build(items, refs), min_size=min_size,
                    max_size=int(max_size) if max_size is not None else max(min_size, 3))


def _object(builder: _Builder, schema: Schema, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name in properties]
    missing = [name for name in schema.get("required", []) if name not in properties]
    if missing:
        raise Unsupported(f"a required property with no schema ({missing[0]!r})")
    optional = {name: builder.build(value, refs) for name, value in properties.items() if name not in required}
    return st.fixed_dictionaries({name: builder.build(properties[name], refs) for name in required},
                                 optional=optional)


def _boolean(builder: _Builder, schema: Schema, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.booleans()


def _null(builder: _Builder, schema: Schema, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.none()


_TYPES: dict[str, Callable[[_Builder, Schema, tuple[str, ...]], st.SearchStrategy[Any]]] = {
    "string": _string, "integer": _integer, "number": _number, "array": _array, "object": _object,
    "boolean": _boolean, "null": _null,
}
#: JSON Schema's validation and applicator keywords this module does not honour: a value drawn
#: without them may be invalid. Keywords outside JSON Schema are annotations and ignored.
_UNHONOURED = frozenset({
    "if", "then", "else", "not", "dependentRequired", "dependentSchemas", "dependencies", "minProperties",
    "maxProperties", "patternProperties", "propertyNames", "contains", "minContains", "maxContains",
    "unevaluatedItems", "additionalItems", "$dynamicRef", "$recursiveRef",
})
