// micrograd_cpp.grad and micrograd_cpp.hessian: gradients as numbers or as
// graphs (micrograd/gradient.hpp), and _sign and _mask, the two ops of
// gradient graphs that Python has no operator or method for.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <exception>
#include <string>
#include <vector>

#include "micrograd/gradient.hpp"
#include "micrograd/graph.hpp"
#include "register.hpp"
#include "value_caster.hpp"
#include "value_type.hpp"

namespace py = pybind11;
using micrograd::Node;
using micrograd::Value;
using micrograd::Weight;
using micrograd::python::is_value;
using micrograd::python::node_of;

namespace {

// Ctrl-C stops a long build or Hessian; nothing has changed then.
void poll() {
    if (PyErr_CheckSignals() < 0) throw py::error_already_set();
}

std::string type_name(const py::handle& obj) { return Py_TYPE(obj.ptr())->tp_name; }

// The arguments as the stub shows them (any object is taken, and checked here).
using OneValue = py::typing::Union<Value>;
using Values = py::typing::Union<Value, py::typing::Iterable<Value>>;
using Weights = py::typing::Optional<
    py::typing::Union<Value, py::float_, py::typing::Iterable<py::typing::Union<Value, py::float_>>>>;

// A Value alone, or the items of any iterable, each held (a reference) for the
// call. Items must be Values; with numbers given, real numbers too (as Value()
// takes them), each read once, into numbers at its index (a Value's: unused).
std::vector<py::object> read(const py::handle& obj, const char* what, std::vector<double>* numbers = nullptr) {
    const char* kinds = numbers ? "Values or real numbers" : "Values";
    if (is_value(obj.ptr())) {
        if (numbers) numbers->push_back(0.0);
        return {py::reinterpret_borrow<py::object>(obj)};
    }
    auto iterator = py::reinterpret_steal<py::object>(PyObject_GetIter(obj.ptr()));
    if (!iterator) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw py::error_already_set();
        PyErr_Clear();
        throw py::type_error(std::string(what) + " must be a Value or a sequence of " + kinds + ", not " +
                             type_name(obj));
    }
    std::vector<py::object> out;
    for (std::size_t index = 0;; ++index) {
        if (index % 4096 == 4095) poll();  // an endless iterable still answers Ctrl-C
        auto item = py::reinterpret_steal<py::object>(PyIter_Next(iterator.ptr()));
        if (!item) {
            if (PyErr_Occurred()) throw py::error_already_set();
            return out;
        }
        double x = 0.0;
        const int real = is_value(item.ptr()) || !numbers ? 0 : micrograd::python::to_real(item.ptr(), &x);
        if (real < 0) throw py::error_already_set();
        if (!is_value(item.ptr()) && real == 0) {
            throw py::type_error(std::string(what) + " must hold " + kinds + ", not " + type_name(item) +
                                 " (at index " + std::to_string(index) + ")");
        }
        if (numbers) numbers->push_back(x);
        out.push_back(std::move(item));
    }
}

std::vector<Node*> nodes_of(const std::vector<py::object>& values) {
    std::vector<Node*> out;
    out.reserve(values.size());
    for (const py::object& v : values)
        out.push_back(node_of(v.ptr()));
    return out;
}

std::vector<Value> grad(const Values& outputs, const Values& inputs, const Weights& grad_outputs, bool create_graph,
                        bool allow_unused) {
    const std::vector<py::object> outs = read(outputs, "grad(): outputs");
    const std::vector<py::object> ins = read(inputs, "grad(): inputs");
    if (outs.empty()) throw py::value_error("grad(): outputs is empty");
    if (ins.empty()) throw py::value_error("grad(): inputs is empty");
    std::vector<py::object> weight_items;
    std::vector<double> numbers;
    if (!grad_outputs.is_none()) {
        double x;
        const int real = is_value(outputs.ptr()) ? micrograd::python::to_real(grad_outputs.ptr(), &x) : 0;
        if (real < 0) throw py::error_already_set();
        if (real == 1) {  // one number for one output Value, as torch takes a tensor for a tensor
            weight_items.push_back(py::reinterpret_borrow<py::object>(grad_outputs));
            numbers.push_back(x);
        } else {
            weight_items = read(grad_outputs, "grad(): grad_outputs", &numbers);
        }
        if (weight_items.size() != outs.size()) {
            throw py::value_error("grad(): grad_outputs has " + std::to_string(weight_items.size()) + " items for " +
                                  std::to_string(outs.size()) + " outputs");
        }
    }
    std::vector<Weight> weights(weight_items.size());
    for (std::size_t k = 0; k < weights.size(); ++k) {
        if (is_value(weight_items[k].ptr()))
            weights[k].node = node_of(weight_items[k].ptr());
        else
            weights[k].number = numbers[k];
    }
    return micrograd::grad(nodes_of(outs), nodes_of(ins), weights, create_graph, allow_unused, poll);
}

std::vector<std::vector<double>> hessian(const OneValue& output, const Values& inputs) {
    if (!is_value(output.ptr())) throw py::type_error("hessian(): output must be a Value, not " + type_name(output));
    const std::vector<py::object> ins = read(inputs, "hessian(): inputs");
    if (ins.empty()) throw py::value_error("hessian(): inputs is empty");
    const auto held = py::reinterpret_borrow<py::object>(output);
    return micrograd::hessian(node_of(held.ptr()), nodes_of(ins), poll);
}

}  // namespace

void register_grad(py::module_& m) {
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const micrograd::not_differentiable& e) {
            PyErr_SetString(PyExc_TypeError, e.what());
        }
    });
    m.def("grad", &grad, py::arg("outputs"), py::arg("inputs"), py::arg("grad_outputs") = py::none(), py::kw_only(),
          py::arg("create_graph") = false, py::arg("allow_unused") = false,
          ">>> import micrograd_cpp as mg\n"
          ">>> x = mg.Value(0.5)\n"
          ">>> dy, = mg.grad(x.tanh() * x, [x], create_graph=True)  # dy/dx, a Value of a new graph\n"
          ">>> round(dy.data, 6)\n"
          "0.855341\n"
          ">>> d2y, = mg.grad(dy, [x])  # differentiated again: a leaf holding d2y/dx2\n"
          ">>> round(d2y.data, 6)\n"
          "1.209464\n\n"
          "For each input, the sum over the outputs of grad_output * d(output)/d(input), as\n"
          "torch.autograd.grad computes it.\n\n"
          "outputs: a Value or a sequence of Values; inputs: a Value or a sequence of Values of their\n"
          "graph (leaves or not); grad_outputs: a number or Value per output (default 1; one number or\n"
          "Value for one output Value). Returns a list of Values, one per input.\n\n"
          "create_graph: each result is a node of a new graph built from the same ops, which can be\n"
          "differentiated again (backward(), grad, hessian) and captured by Graph; otherwise each result\n"
          "is a new leaf holding the number. No .grad is read or written anywhere.\n"
          "allow_unused: an input the outputs do not depend on gets Value(0.0) instead of a ValueError.\n\n"
          "Derivatives follow PyTorch's, also at second and higher order (relu'' = 0, abs'' = 0, pow's\n"
          "masks as the op 'mask', evaluated with the data at hand when a captured gradient graph is\n"
          "replayed or mapped over rows). Iterative: any depth works; Ctrl-C stops it, changing nothing.");
    m.def("hessian", &hessian, py::arg("output"), py::arg("inputs"),
          ">>> import micrograd_cpp as mg\n"
          ">>> x, y = mg.Value(1.0), mg.Value(2.0)\n"
          ">>> mg.hessian(x * x * y, [x, y])\n"
          "[[4.0, 2.0], [2.0, 0.0]]\n\n"
          "The matrix of second derivatives of output with respect to inputs, as lists of floats:\n"
          "row i is d/d(inputs) of d(output)/d(inputs[i]) (torch.autograd.functional.hessian's rows).\n"
          "An input the output does not depend on has a zero row and column.");
    m.def(
        "_sign", [](const Value& x) { return Value::adopt(micrograd::make_unary(micrograd::Op::sign, x.node())); },
        py::arg("x"),
        "_sign(x): the sign of x, 1, -1, or 0 at 0 and nan, as a new Value (op 'sign'): abs's derivative in\n"
        "gradient graphs. x: a Value or a real number.");
    m.def(
        "_mask",
        [](const Value& x, const Value& keep) {
            return Value::adopt(micrograd::make_binary(micrograd::Op::mask, x.node(), keep.node()));
        },
        py::arg("x"), py::arg("m"),
        "_mask(x, m): x where m > 0 (or m is nan), else 0, as a new Value (op 'mask'): the select that\n"
        "relu's and pow's derivatives use in gradient graphs. x, m: Values or real numbers.");
}
