// Fused building blocks for micrograd_cpp.nn: one call from Python builds a
// whole neuron's nodes in C++.
#include <pybind11/pybind11.h>

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "micrograd/fused.hpp"
#include "register.hpp"
#include "value_caster.hpp"
#include "value_type.hpp"

namespace py = pybind11;
using micrograd::Node;
using micrograd::Op;
using micrograd::Value;

namespace {

std::optional<Op> activation_op(const std::string& name) {
    if (name == "relu") return Op::relu;
    if (name == "tanh") return Op::tanh;
    if (name == "sigmoid") return Op::sigmoid;
    if (name == "linear") return std::nullopt;
    throw py::value_error("activation must be 'relu', 'tanh', 'sigmoid' or 'linear', not '" + name + "'");
}

[[noreturn]] void not_a_value(const char* what, bool numbers_allowed, PyObject* obj, size_t index) {
    throw py::type_error(std::string(what) + " must hold Values" + (numbers_allowed ? " or numbers" : "") + ", not " +
                         Py_TYPE(obj)->tp_name + " (at index " + std::to_string(index) + ")");
}

// The items of a Python iterable, all read before any is converted: a list or a
// tuple is copied (into a tuple), any other iterable is drained, but of no more
// than limit + 1 items, so that an endless generator is refused, not read for ever.
// With values_only, an item that is not a Value is refused as soon as it is read.
py::tuple read_items(const py::handle& iterable, size_t limit, bool values_only, const char* what) {
    if (PyList_CheckExact(iterable.ptr()) || PyTuple_CheckExact(iterable.ptr()))
        return py::reinterpret_steal<py::tuple>(PySequence_Tuple(iterable.ptr()));
    const auto iterator = py::reinterpret_steal<py::object>(PyObject_GetIter(iterable.ptr()));
    if (!iterator) throw py::error_already_set();  // not iterable: TypeError
    py::list items;
    while (items.size() <= limit) {
        auto item = py::reinterpret_steal<py::object>(PyIter_Next(iterator.ptr()));
        if (!item) {
            if (PyErr_Occurred()) throw py::error_already_set();  // the iteration raised
            break;
        }
        if (values_only && !micrograd::python::is_value(item.ptr())) not_a_value(what, false, item.ptr(), items.size());
        items.append(std::move(item));
    }
    return py::reinterpret_steal<py::tuple>(PySequence_Tuple(items.ptr()));
}

// Whether seq is an exact list or tuple whose items are all Values or (with
// numbers_allowed) plain numbers: int, float and its subclasses such as
// numpy.float64. Reading those runs no Python code.
bool is_plain(PyObject* seq, bool numbers_allowed) {
    if (!PyList_CheckExact(seq) && !PyTuple_CheckExact(seq)) return false;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject** items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* obj = items[i];
        if (micrograd::python::is_value(obj)) continue;
        if (!numbers_allowed || !(PyFloat_Check(obj) || PyLong_CheckExact(obj))) return false;
    }
    return true;
}

// A Python iterable as node pointers, converted in full before anything is built.
//
// When no Python code can run during the whole call (the inputs is_plain, the
// weights are a list or tuple, whose items are checked to be Values as they are
// read), the sequences are read in place: nothing can change them or drop an
// item until the nodes are built, and the caller's sequences keep the Values
// alive. Otherwise Python code may run as items are read (an iterator's
// __next__, an item's __float__), so each iterable is copied first (read_items)
// and every node is owned here until the call ends: a Value's through a shared
// reference. Whatever that code does (drop the last reference to a Value, mutate
// a sequence, call back into micrograd_cpp, raise), the nodes read stay alive and
// the items read are the ones given. A number always becomes a constant leaf owned here.
class NodeList {
public:
    // in_place: the caller checked that no Python code can run during the call
    // when iterable is read in place (an exact list or tuple; any other item than
    // a Value or a plain number is then refused as it is read).
    NodeList(const py::handle& iterable, const char* what, bool numbers_allowed, bool in_place,
             size_t limit = std::numeric_limits<size_t>::max() - 1) {
        if (in_place) {
            read_in_place(iterable.ptr(), what, numbers_allowed);
            return;
        }
        const py::tuple items = read_items(iterable, limit, !numbers_allowed, what);
        const size_t n = items.size();
        owned_.reserve(n);
        nodes_.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            PyObject* obj = PyTuple_GET_ITEM(items.ptr(), Py_ssize_t(i));  // the tuple holds it
            if (micrograd::python::is_value(obj)) {
                owned_.push_back(Value::share(micrograd::python::node_of(obj)));
            } else {
                double x;
                const int found = numbers_allowed ? micrograd::python::to_real(obj, &x) : 0;
                if (found < 0) throw py::error_already_set();
                if (found == 0) not_a_value(what, numbers_allowed, obj, i);
                owned_.emplace_back(x);
            }
            nodes_.push_back(owned_.back().node());
        }
    }
    Node* const* data() const { return nodes_.data(); }
    size_t size() const { return nodes_.size(); }

private:
    void read_in_place(PyObject* seq, const char* what, bool numbers_allowed) {
        const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        PyObject** items = PySequence_Fast_ITEMS(seq);
        nodes_.reserve(size_t(n));
        for (Py_ssize_t i = 0; i < n; ++i) {
            PyObject* obj = items[i];
            if (micrograd::python::is_value(obj)) {
                nodes_.push_back(micrograd::python::node_of(obj));
                continue;
            }
            if (!numbers_allowed || !(PyFloat_Check(obj) || PyLong_CheckExact(obj)))
                not_a_value(what, numbers_allowed, obj, size_t(i));
            double x;
            if (micrograd::python::to_real(obj, &x) < 0) throw py::error_already_set();  // an int past 1.8e308
            if (owned_.empty()) owned_.reserve(size_t(n - i));  // none for a sequence of Values
            owned_.emplace_back(x);
            nodes_.push_back(owned_.back().node());
        }
    }

    std::vector<Value> owned_;  // a reference to each node below that no Python object holds for the whole call
    std::vector<Node*> nodes_;
};

}  // namespace

void register_nn(py::module_& m) {
    m.def(
        "neuron",
        [](const py::handle& w, const Value& bias, const py::handle& x, const std::string& activation) {
            const std::optional<Op> op = activation_op(activation);
            const bool in_place =
                (PyList_CheckExact(w.ptr()) || PyTuple_CheckExact(w.ptr())) && is_plain(x.ptr(), true);
            const NodeList weights(w, "neuron weights", false, in_place);
            const NodeList inputs(x, "neuron inputs", true, in_place, weights.size());  // one more at most
            if (weights.size() != inputs.size()) {
                const bool more = inputs.size() > weights.size() && !PyList_CheckExact(x.ptr()) &&
                                  !PyTuple_CheckExact(x.ptr());  // an iterable read no further
                throw py::value_error("neuron has " + std::to_string(weights.size()) + " weights but got " +
                                      (more ? "more" : std::to_string(inputs.size())) + " inputs");
            }
            return micrograd::neuron(weights.data(), inputs.data(), weights.size(), bias.node(), op);
        },
        py::arg("w"), py::arg("bias"), py::arg("x"), py::arg("activation") = "linear",
        "activation(bias + w[0]*x[0] + w[1]*x[1] + ...) built in one call, a node per step, summed in\n"
        "micrograd's order.\n\n"
        "w: an iterable of Values; x: an iterable of Values or numbers, as long as w;\n"
        "activation: 'relu', 'tanh', 'sigmoid' or 'linear'.");
}
