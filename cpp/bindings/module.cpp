// The compiled module micrograd_cpp._core: the Value type (value_type.cpp),
// the op table as data, and everything bound through pybind11.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <vector>

#include "micrograd/graph.hpp"
#include "micrograd/ops.hpp"
#include "micrograd/value.hpp"
#include "register.hpp"
#include "value_caster.hpp"
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

// One interpreter per process: the engine's free lists, node counts and the Value type are process
// globals. The module declares itself unsupported in subinterpreters (the Py_mod_multiple_interpreters
// slot), but Python enforces that slot only from 3.12 and only for subinterpreters with their own
// config ("isolated"): a legacy-config subinterpreter of 3.12+ runs the module's exec slot anyway (with
// the definition cached from the main interpreter, without calling PyInit__core again), which would
// replace the main interpreter's Value type; and on 3.11 the PyInit__core that PYBIND11_MODULE writes
// blocks for ever in a subinterpreter (pybind11's internals lookup calls PyGILState_Ensure, which waits
// for the GIL this thread holds). So pybind11's entry point is renamed here, and PyInit__core at the end
// of this file refuses a subinterpreter itself and wraps the exec slot with the same check: pybind11
// never runs outside the main interpreter, on any version.
#define PyInit__core micrograd_pybind11_init_core  // what PYBIND11_MODULE's PyInit_##name pastes to
PYBIND11_MODULE(_core, m, py::mod_gil_used(), py::multiple_interpreters::not_supported()) {
    m.doc() = "micrograd-cpp's compiled core: the Value type, dot and sum, the optimizers and the graph algorithms.";

    auto value = py::reinterpret_steal<py::object>(micrograd::python::create_value_type());
    if (!value) throw py::error_already_set();
    m.add_object("Value", value);
    if (micrograd::python::add_module_functions(m.ptr()) < 0) throw py::error_already_set();
    m.attr("OPS") = op_table(m);

    register_nn(m);
    register_optim(m);
    register_graph(m);

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

namespace {

bool refuse_subinterpreter() {
    if (PyInterpreterState_Get() == PyInterpreterState_Main()) return false;
    PyErr_SetString(PyExc_ImportError,
                    "micrograd_cpp._core does not support subinterpreters: import micrograd_cpp in the main "
                    "interpreter");
    return true;
}

int (*pybind11_exec)(PyObject*) = nullptr;

int exec_in_main_interpreter(PyObject* module) { return refuse_subinterpreter() ? -1 : pybind11_exec(module); }

}  // namespace

extern "C" PYBIND11_EXPORT PyObject* PyInit__core() {
    if (refuse_subinterpreter()) return nullptr;
    PyObject* def = micrograd_pybind11_init_core();  // the static PyModuleDef, as PyModuleDef_Init returns it
    if (!def) return nullptr;
    for (PyModuleDef_Slot* slot = reinterpret_cast<PyModuleDef*>(def)->m_slots; slot->slot != 0; ++slot) {
        if (slot->slot == Py_mod_exec && slot->value != reinterpret_cast<void*>(exec_in_main_interpreter)) {
            pybind11_exec = reinterpret_cast<int (*)(PyObject*)>(slot->value);
            slot->value = reinterpret_cast<void*>(exec_in_main_interpreter);
        }
    }
    return def;
}
