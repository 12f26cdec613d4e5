// Fused building blocks for micrograd_cpp.nn: one call from Python builds a
// whole neuron's nodes in C++.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "casters.hpp"
#include "iterables.hpp"
#include "micrograd/fused.hpp"
#include "register.hpp"

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

struct WeightsName {
    static constexpr auto name = pybind11::detail::const_name("collections.abc.Iterable[Value]");
};
struct InputsName {
    static constexpr auto name =
        pybind11::detail::const_name("collections.abc.Iterable[Value | typing.SupportsFloat | typing.SupportsIndex]");
};

}  // namespace

void register_nn(py::module_& m) {
    m.def(
        "neuron",
        [](Iterable<WeightsName> w, const Value& bias, Iterable<InputsName> x, const std::string& activation) {
            using micrograd::python::Expect;
            using micrograd::python::Holds;
            const std::optional<Op> op = activation_op(activation);
            micrograd::python::Reading reading;
            micrograd::python::NodeList weights, inputs;
            if (!reading.open(0, w.obj.ptr(), Expect{"neuron weights", Holds::values, true}) ||
                !reading.open(1, x.obj.ptr(), Expect{"neuron inputs", Holds::values_or_numbers, true}) ||
                !weights.read(reading, 0) || !inputs.read(reading, 1, weights.size()))  // one more at most
                throw py::error_already_set();
            if (weights.size() != inputs.size()) {
                const Py_ssize_t rest = reading.remaining(1);  // of a list or a tuple; an iterator is read no further
                const bool more = inputs.size() > weights.size() && rest < 0;
                throw py::value_error(
                    "neuron has " + std::to_string(weights.size()) + " weights but got " +
                    (more ? "more" : std::to_string(inputs.size() + std::size_t(std::max<Py_ssize_t>(rest, 0)))) +
                    " inputs");
            }
            return micrograd::neuron(weights.data(), inputs.data(), weights.size(), bias.node(), op);
        },
        py::arg("w"), py::arg("bias"), py::arg("x"), py::arg("activation") = "linear",
        "activation(bias + w[0]*x[0] + w[1]*x[1] + ...) built in one call, a node per step, summed in\n"
        "micrograd's order.\n\n"
        "w: an iterable of Values; x: an iterable of Values or real numbers, as long as w; both in order\n"
        "(sets and dicts are refused). activation: 'relu', 'tanh', 'sigmoid' or 'linear'.");
}
