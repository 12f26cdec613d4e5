// The compiled module micrograd_cpp._core: the Value type (value_type.cpp) and
// everything bound through pybind11.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "micrograd/graph.hpp"
#include "micrograd/label.hpp"
#include "micrograd/ops.hpp"
#include "micrograd/value.hpp"
#include "register.hpp"
#include "value_caster.hpp"
#include "value_type.hpp"

namespace py = pybind11;
using micrograd::Node;
using micrograd::Op;
using micrograd::Value;

namespace {

// Adds a pybind11 function to the C-API type as a method.
template <class F, class... Extra>
void def_method(py::object& cls, const char* name, F&& f, const Extra&... extra) {
    cls.attr(name) = py::cpp_function(std::forward<F>(f), py::name(name), py::is_method(cls),
                                      py::sibling(py::getattr(cls, name, py::none())), extra...);
}

// getter and setter: functions made with py::is_method(cls), so that their signatures read (self: Value, ...).
void def_property(py::object& cls, const char* name, py::cpp_function getter, py::object setter, const char* doc) {
    py::object property = py::module_::import("builtins").attr("property");
    cls.attr(name) = property(getter, setter, py::none(), doc);
}

// micrograd's op names; a constant power prints its exponent as Python would ("**2", "**0.5").
std::string op_name(const Node& node) {
    std::string name(micrograd::ops::name(node.op));
    if (node.op == Op::pow_const) {
        const double k = node.exponent;
        const bool as_int = node.test(Node::integer_exponent) && std::abs(k) < 9.0e15;
        name += py::str(as_int ? py::object(py::int_(static_cast<long long>(k))) : py::repr(py::float_(k)));
    }
    return name;
}

void register_value_methods(py::object& cls) {
    def_method(
        cls, "backward", [](const Value& self) { self.backward(); },
        "Computes d(self)/d(node) for every node of self's graph into node.grad.\n\n"
        "Leaf gradients accumulate across calls (zero them with zero_grad() or p.grad = 0);\n"
        "interior gradients are recomputed on each call. Iterative: any depth works.");
    def_method(
        cls, "zero_grad", [](const Value& self) { self.zero_grad(); },
        "Sets grad = 0 on every node reachable from self.");
    def_property(cls, "label", py::cpp_function([](const Value& self) { return self.label(); }, py::is_method(cls)),
                 py::cpp_function(
                     [](Value& self, const py::object& text) {
                         if (!py::isinstance<py::str>(text))
                             throw py::type_error("label must be a str, not " +
                                                  std::string(py::str(py::type::of(text).attr("__name__"))));
                         self.set_label(text.cast<std::string>());
                     },
                     py::is_method(cls), py::arg("text")),
                 "A name for this node, shown in repr and drawings ('' when unset).");
    def_property(cls, "_op",
                 py::cpp_function([](const Value& self) { return op_name(*self.node()); }, py::is_method(cls)),
                 py::none(),
                 "The op that made this node: '' for a leaf, '+', '-', '*', '/', 'neg', '**k', '**', 'tanh', 'ReLU', "
                 "'sigmoid', 'exp', 'log'.");
    def_property(cls, "_prev",
                 py::cpp_function(
                     [](const Value& self) {
                         py::typing::Set<Value> children;
                         for (Value& child : self.children())
                             children.add(py::cast(std::move(child)));
                         return children;
                     },
                     py::is_method(cls)),
                 py::none(), "The set of operand Values (as in micrograd).");
    def_property(
        cls, "_children",
        py::cpp_function(
            [](const Value& self) { return py::typing::Tuple<Value, py::ellipsis>(py::cast(self.children())); },
            py::is_method(cls)),
        py::none(), "The operands in order (first operand first), a tuple of Values.");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "micrograd-cpp's compiled core: the Value type and its graph algorithms.";

    auto value = py::reinterpret_steal<py::object>(micrograd::python::create_value_type());
    if (!value) throw py::error_already_set();
    register_value_methods(value);
    m.add_object("Value", value);

    register_nn(m);
    register_optim(m);

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
