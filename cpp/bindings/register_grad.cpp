// micrograd_cpp._sign and _mask: the two ops of gradient graphs that Python
// has no operator or method for.
#include <pybind11/pybind11.h>

#include "micrograd/graph.hpp"
#include "register.hpp"
#include "value_caster.hpp"

namespace py = pybind11;
using micrograd::Value;

void register_grad(py::module_& m) {
    m.def(
        "_sign", [](const Value& x) { return Value::adopt(micrograd::make_unary(micrograd::Op::sign, x.node())); },
        py::arg("x"),
        "_sign(x): the sign of x, 1, -1, or 0 at 0 and nan, as a new Value (op 'sign'): abs's derivative in\n"
        "gradient graphs. x: a Value or a real number.");
    m.def(
        "_mask",
        [](const Value& x, const Value& m) {
            return Value::adopt(micrograd::make_binary(micrograd::Op::mask, x.node(), m.node()));
        },
        py::arg("x"), py::arg("m"),
        "_mask(x, m): x where m > 0 (or m is nan), else 0, as a new Value (op 'mask'): the select that\n"
        "relu's and pow's derivatives use in gradient graphs. x, m: Values or real numbers.");
}
