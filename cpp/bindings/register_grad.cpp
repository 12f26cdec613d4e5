// micrograd_cpp.grad and micrograd_cpp.hessian: gradients as numbers or as
// graphs (micrograd/gradient.hpp), and _sign and _mask, the two ops of
// gradient graphs that Python has no operator or method for.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <exception>
#include <string>
#include <vector>

#include "casters.hpp"
#include "iterables.hpp"
#include "micrograd/gradient.hpp"
#include "micrograd/graph.hpp"
#include "register.hpp"
#include "value_type.hpp"

namespace py = pybind11;
using micrograd::Node;
using micrograd::Value;
using micrograd::Weight;
using micrograd::python::Expect;
using micrograd::python::Holds;
using micrograd::python::is_value;
using micrograd::python::NodeList;
using micrograd::python::Reading;

namespace {

// Ctrl-C stops a long build or Hessian; nothing has changed then.
void poll() {
    if (PyErr_CheckSignals() < 0) throw py::error_already_set();
}

// The arguments as the stub shows them (any object is taken, and read here).
using OneValue = py::typing::Union<Value>;
using Values = py::typing::Union<Value, py::typing::Iterable<Value>>;
using Weights = py::typing::Optional<
    py::typing::Union<Value, py::float_, py::typing::Iterable<py::typing::Union<Value, py::float_>>>>;

Expect expect(const char* what, Holds holds) {
    Expect e{what, holds, true};  // ordered: paired with the results, or with the outputs
    e.or_one_value = true;
    return e;
}

// Opens obj as argument k of reading, unless it is a single Value (appended to `into` at once).
bool open(Reading& reading, std::size_t k, const py::handle& obj, const Expect& e, NodeList& into, bool& single) {
    single = is_value(obj.ptr());
    return single ? into.append(obj.ptr(), e, 0) : reading.open(k, obj.ptr(), e);
}

// The nodes read, each held by a reference of ours for the whole call: grad's C++ code checks for
// Ctrl-C, which runs Python code (a signal handler), so nothing read may stay borrowed.
std::vector<Value> held(const NodeList& nodes) {
    std::vector<Value> out;
    out.reserve(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i)
        out.push_back(Value::share(nodes.data()[i]));
    return out;
}

std::vector<Node*> nodes_of(const std::vector<Value>& values) {
    std::vector<Node*> out;
    out.reserve(values.size());
    for (const Value& v : values)
        out.push_back(v.node());
    return out;
}

// outputs and inputs, by the one reader (iterables.hpp), both opened before either is read.
void read_outputs_and_inputs(const py::handle& outputs, const py::handle& inputs, const char* function,
                             std::vector<Value>& outs, std::vector<Value>& ins) {
    const std::string out_name = std::string(function) + "(): outputs", in_name = std::string(function) + "(): inputs";
    const Expect out_expect = expect(out_name.c_str(), Holds::values),
                 in_expect = expect(in_name.c_str(), Holds::values);
    Reading reading;
    NodeList out_nodes, in_nodes;
    bool single_out = false, single_in = false;
    if (!open(reading, 0, outputs, out_expect, out_nodes, single_out) ||
        !open(reading, 1, inputs, in_expect, in_nodes, single_in) || (!single_out && !out_nodes.read(reading, 0)) ||
        (!single_in && !in_nodes.read(reading, 1)))
        throw py::error_already_set();
    outs = held(out_nodes);
    ins = held(in_nodes);
}

std::vector<Value> grad(const Values& outputs, const Values& inputs, const Weights& grad_outputs, bool create_graph,
                        bool allow_unused) {
    std::vector<Value> outs, ins, weight_values;
    read_outputs_and_inputs(outputs, inputs, "grad", outs, ins);
    if (outs.empty()) throw py::value_error("grad(): outputs is empty");
    if (ins.empty()) throw py::value_error("grad(): inputs is empty");
    std::vector<Weight> weights;
    if (!grad_outputs.is_none()) {
        // Numbers become constant leaves; one number for one output Value, as torch takes a tensor for a tensor.
        const Expect w_expect = expect("grad(): grad_outputs", Holds::values_or_numbers);
        Reading reading;
        NodeList nodes;
        double x;
        const int real = is_value(outputs.ptr()) ? micrograd::python::to_real(grad_outputs.ptr(), &x) : 0;
        bool single = false;
        if (real < 0 || (real == 1 && !nodes.append(x)) ||
            (real == 0 &&
             (!open(reading, 0, grad_outputs, w_expect, nodes, single) || (!single && !nodes.read(reading, 0)))))
            throw py::error_already_set();
        weight_values = held(nodes);
        if (weight_values.size() != outs.size()) {
            throw py::value_error("grad(): grad_outputs has " + std::to_string(weight_values.size()) + " items for " +
                                  std::to_string(outs.size()) + " outputs");
        }
        for (const Value& w : weight_values)
            weights.push_back(Weight{w.node(), 0.0});
    }
    return micrograd::grad(nodes_of(outs), nodes_of(ins), weights, create_graph, allow_unused, poll);
}

std::vector<std::vector<double>> hessian(const OneValue& output, const Values& inputs) {
    if (!is_value(output.ptr())) {
        throw py::type_error(std::string("hessian(): output must be a Value, not ") + Py_TYPE(output.ptr())->tp_name);
    }
    std::vector<Value> outs, ins;
    read_outputs_and_inputs(output, inputs, "hessian", outs, ins);
    if (ins.empty()) throw py::value_error("hessian(): inputs is empty");
    return micrograd::hessian(outs[0].node(), nodes_of(ins), poll);
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
