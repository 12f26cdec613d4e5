"""Parameter names are unique, or the collision is a ValueError naming both paths (the audit: dict keys
with dots gave two parameters one name; state_dict kept one and load_state_dict restored nothing for the
other, silently)."""

import json

import pytest

from micrograd_cpp import Value
from micrograd_cpp.nn import MLP, Module


class Table(Module):
    def __init__(self, table):
        self.table = table

    def parameters(self):
        out = []

        def collect(x):
            if isinstance(x, Value):
                out.append(x)
            elif isinstance(x, dict):
                for v in x.values():
                    collect(v)

        collect(self.table)
        return out


def test_a_dotted_key_beside_a_nested_one_is_a_value_error_naming_both_paths():
    model = Table({"a.b": Value(1.0), "a": {"b": Value(2.0)}})
    for call in (model.state_dict, lambda: dict(model.named_parameters()), lambda: model.load_state_dict({})):
        with pytest.raises(ValueError, match="two parameters") as error:
            call()
        message = str(error.value)
        assert "'table.a.b'" in message
        assert "Table.table['a.b']" in message
        assert "Table.table['a']['b']" in message


def test_a_collision_with_a_list_index_path_is_caught_too():
    model = Module()
    model.__dict__["w"] = [Value(1.0)]
    model.__dict__["w.0"] = Value(2.0)
    model.parameters = lambda: [model.__dict__["w"][0], model.__dict__["w.0"]]
    with pytest.raises(ValueError, match=r"Module\.w\[0\].*Module\.w\.0|Module\.w\.0.*Module\.w\[0\]"):
        model.state_dict()


def test_the_failed_load_changes_nothing():
    a, b = Value(1.0), Value(2.0)
    model = Table({"x.y": a, "x": {"y": b}})
    with pytest.raises(ValueError, match="two parameters"):
        model.load_state_dict({"table.x.y": 5.0})
    assert (a.data, b.data) == (1.0, 2.0)


def test_a_dotted_key_alone_still_round_trips():
    p = Value(3.0)
    model = Table({"a.b": p})
    state = model.state_dict()
    assert state == {"table.a.b": 3.0}
    p.data = 0.0
    model.load_state_dict(json.loads(json.dumps(state)))
    assert p.data == 3.0


def test_one_parameter_reached_by_two_paths_keeps_both_names_without_error():
    shared = Value(4.0)
    model = Table({"a": shared, "b": shared})
    assert model.state_dict() == {"table.a": 4.0, "table.b": 4.0}


def test_an_mlps_names_are_unique_and_cover_every_parameter():
    model = MLP(3, [4, 4, 1])
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == len(set(names)) == len(model.parameters())
