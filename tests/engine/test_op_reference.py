"""The reference table of the tests covers exactly the ops of the engine."""

from op_reference import CASES, REFERENCE

from micrograd_cpp import Value, _core


def test_every_op_of_the_core_has_a_reference_row_and_every_row_an_op():
    core = {op.name for op in _core.OPS}
    assert core - set(REFERENCE) == set(), "ops of the core with no row in tests/op_reference.py"
    assert set(REFERENCE) - core == set(), "rows of tests/op_reference.py that name no op of the core"


def test_each_case_builds_the_op_it_names():
    symbols = {op.name: op.symbol for op in _core.OPS}
    for name, case in CASES.items():
        op = name.rsplit("-", 1)[0] if name not in REFERENCE else name
        out = case.ours(*(Value(0.5 + i / 10) for i in range(case.operands)))
        assert out._op.startswith(symbols[op]), (name, out._op)


def test_the_op_table_describes_each_op():
    for op in _core.OPS:
        assert op.arity in (1, 2, None)
        assert op.doc
        assert op.spelling
        if op.method:
            assert getattr(Value, op.method).__doc__.startswith(op.doc.split(",")[0])
