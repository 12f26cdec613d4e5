// The compiled module micrograd_cpp._core: the Value type (value_type.cpp), the module functions
// written with the C API (module_functions.cpp), the op table as data, and everything bound through
// pybind11 (the register_*.cpp files).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <vector>

#include "casters.hpp"
#include "guarded.hpp"
#include "micrograd/graph.hpp"
#include "micrograd/ops.hpp"
#include "micrograd/value.hpp"
#include "module_functions.hpp"
#include "register.hpp"
#include "value_type.hpp"

namespace py = pybind11;
using micrograd::Arity;
using micrograd::Node;
using micrograd::Value;

namespace {

// _core.OPS: the op table (cpp/include/micrograd/op_table.hpp) as Python data,
// which the stub generator and the tests read.
py::tuple op_table(py::module_& m) {
    py::object OpInfo = py::module_::import("collections")
                            .attr("namedtuple")("OpInfo", "name arity symbol method spelling doc",
                                                py::arg("module") = "micrograd_cpp._core");
    OpInfo.attr("__doc__") =
        "One op of the engine: name (its id, 'relu'), arity (1, 2, or None for any number of operands;\n"
        "x ** k counts 1, its constant k kept in the node), symbol (its _op as micrograd prints it, 'ReLU'),\n"
        "method (the Value method, or None), spelling (how Python writes it), doc (formula and derivatives).";
    m.attr("OpInfo") = OpInfo;
    py::tuple out(micrograd::ops::table_size);
    for (std::size_t i = 0; i < micrograd::ops::table_size; ++i) {
        const micrograd::ops::Info& op = micrograd::ops::table[i];
        const py::object arity = op.arity == Arity::nary     ? py::object(py::none())
                                 : op.arity == Arity::binary ? py::object(py::int_(2))
                                                             : py::object(py::int_(1));
        const py::object method = *op.method ? py::object(py::str(op.method)) : py::object(py::none());
        out[i] = OpInfo(op.id, arity, op.name, method, op.spelling, op.doc);
    }
    return out;
}

}  // namespace

// PyInit__core, the entry point Python calls, is subinterpreters.cpp's: it refuses a subinterpreter
// before pybind11 runs, then hands over to pybind11's, renamed here.
#define PyInit__core micrograd_pybind11_init_core  // what PYBIND11_MODULE's PyInit_##name pastes to
PYBIND11_MODULE(_core, m, py::mod_gil_used(), py::multiple_interpreters::not_supported()) {
    m.doc() = "micrograd-cpp's compiled core: the Value type, dot and sum, the optimizers and the graph algorithms.";

    auto value = py::reinterpret_steal<py::object>(micrograd::python::create_value_type());
    if (!value) throw py::error_already_set();
    m.add_object("Value", value);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const micrograd::python::python_error_set&) {
            // the exception a custom op's backward raised is set: it is the one the caller sees
        } catch (const micrograd::custom_op_refused& e) {
            PyErr_SetString(PyExc_TypeError, e.what());
        }
    });
    if (micrograd::python::add_module_functions(m.ptr()) < 0) throw py::error_already_set();
    m.attr("OPS") = op_table(m);

    register_nn(m);
    register_optim(m);
    register_graph(m);
    register_grad(m);

    m.def(
        "topological_order",
        [](const Value& root) {
            std::vector<Value> order;
            for (Node* node : micrograd::topological_order(root.node()))
                order.push_back(Value::share(node));
            return order;
        },
        py::arg("root"), "Every Value reachable from root, each once, operands before their users (root last).");
    m.def("live_node_count", &micrograd::live_node_count,
          "Number of graph nodes alive in this process (for leak checks).");
    m.attr("node_size") = sizeof(Node);
#ifdef MICROGRAD_SANITIZED
    m.attr("sanitized") = true;  // built with ASan + UBSan, for the test suite's sanitizer run
#else
    m.attr("sanitized") = false;
#endif
}
#undef PyInit__core
