"""The scenario's result is built by position (the keyword call cost more than the rest of the
result): the same frozen DisconnectResult as the keyword constructor makes."""

from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest

from pytest_disconnect import DisconnectResult, _result
from pytest_disconnect._result import WorkRecord, scenario_result, work_record

from .test_report import KEPT_RUNNING


def test_the_positional_build_takes_every_field_in_order() -> None:
    fields = [field.name for field in dataclasses.fields(DisconnectResult)]
    assert list(inspect.signature(scenario_result).parameters) == fields


def test_the_signature_the_type_checker_reads_takes_every_field_in_order() -> None:
    # The generated builder has no annotations; the type checker reads a declaration of it.
    declared = next(node for node in ast.walk(ast.parse(inspect.getsource(_result)))
                    if isinstance(node, ast.FunctionDef) and node.name == "scenario_result")
    assert [arg.arg for arg in declared.args.args] == [field.name for field in dataclasses.fields(DisconnectResult)]


def test_a_work_record_built_by_position_is_the_same_record() -> None:
    record = KEPT_RUNNING.work[0]
    built = work_record(*(getattr(record, field.name) for field in dataclasses.fields(WorkRecord)))
    assert type(built) is WorkRecord and built == record and hash(built) == hash(record)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "x"  # type: ignore[misc]


def test_the_positional_build_makes_the_same_result() -> None:
    values = [getattr(KEPT_RUNNING, field.name) for field in dataclasses.fields(DisconnectResult)]
    built = scenario_result(*values)
    assert type(built) is DisconnectResult
    assert built == KEPT_RUNNING and hash(built) == hash(KEPT_RUNNING) and repr(built) == repr(KEPT_RUNNING)
    assert dataclasses.replace(built, status=500).status == 500
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.status = 500  # type: ignore[misc]


def test_a_missing_value_is_an_error() -> None:
    values = [getattr(KEPT_RUNNING, field.name) for field in dataclasses.fields(DisconnectResult)]
    with pytest.raises(TypeError):
        scenario_result(*values[:-1])
