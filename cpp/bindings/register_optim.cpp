// micrograd_cpp.optim's SGD and Adam: the update loop runs in C++, one call per step.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "casters.hpp"
#include "init_guard.hpp"
#include "initialised.hpp"
#include "iterables.hpp"
#include "micrograd/optim.hpp"
#include "register.hpp"

namespace py = pybind11;
using micrograd::Adam;
using micrograd::AdamOptions;
using micrograd::Optimizer;
using micrograd::SGD;
using micrograd::SGDOptions;
using micrograd::Value;

namespace {

struct ParamsName {
    static constexpr auto name = py::detail::const_name("collections.abc.Iterable[Value]");
};
using Params = Iterable<ParamsName>;

// Parameters must be Values already (a number would become a fresh leaf that nobody reads), in any
// iterable (their order changes no step), each held as soon as it is read.
std::vector<Value> parameters_from(const Params& params) {
    using micrograd::python::Expect;
    using micrograd::python::Holds;
    micrograd::python::Reading reading;
    micrograd::python::NodeList nodes;
    if (!reading.open(0, params.obj.ptr(), Expect{"optimizer params", Holds::values, false}) || !nodes.read(reading, 0))
        throw py::error_already_set();
    std::vector<Value> out;
    out.reserve(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i)
        out.push_back(Value::share(nodes.data()[i]));
    return out;
}

// A hyperparameter as Python gives it: a real number by the one rule (casters.hpp), or a bool.
template <class T>
using Argument = std::conditional_t<std::is_same_v<T, double>, Real, T>;

// A hyperparameter as a read-write property; an invalid value is refused and the old one kept.
template <class Opt, class Field>
void def_option(py::class_<Opt, Optimizer>& cls, const char* name, Field field, const char* doc) {
    cls.def_property(
        name, [field](Initialised<Opt> self) { return self->options().*field; },
        [field](Initialised<Opt> self, Argument<std::decay_t<decltype(std::declval<Opt&>().options().*field)>> value) {
            Opt& opt = *self;
            auto old = opt.options().*field;
            opt.options().*field = value;
            try {
                opt.validate();
            } catch (const std::invalid_argument&) {
                opt.options().*field = old;
                throw;
            }
        },
        doc);
}

std::string number(double x) { return py::repr(py::float_(x)); }  // as Python prints it

}  // namespace

void register_optim(py::module_& m) {
    py::class_<Optimizer> optimizer(m, "Optimizer", "Base of the optimizers: holds the parameters.");
    refuse_pickling(optimizer, "pickle the model (or its state_dict()) and make a new optimizer");
    optimizer
        .def(
            "zero_grad", [](Initialised<Optimizer> self) { self->zero_grad(); }, "Sets grad = 0 on every parameter.")
        .def_property_readonly(
            "params", [](Initialised<Optimizer> self) { return self->params(); }, "The parameters, in order.");

    py::class_<SGD, Optimizer> sgd(m, "SGD",
                                   "Stochastic gradient descent, as torch.optim.SGD (dampening 0):\n"
                                   "g = grad + weight_decay * p; with momentum, b = momentum * b + g (b = g at first)\n"
                                   "and g = b, or g + momentum * b with nesterov; then p -= lr * g.");
    def_init(
        sgd,
        [](const Params& params, Real lr, Real momentum, Real weight_decay, bool nesterov) {
            return SGD(parameters_from(params), SGDOptions{lr, momentum, weight_decay, nesterov});
        },
        py::arg("params"), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("nesterov") = false);
    sgd.def(
           "step", [](Initialised<SGD> self) { self->step(); }, "Updates every parameter from its grad.")
        .def("__repr__", [](Initialised<SGD> self) {
            SGD& opt = *self;
            const SGDOptions& o = opt.options();
            return "SGD(lr=" + number(o.lr) + ", momentum=" + number(o.momentum) +
                   ", weight_decay=" + number(o.weight_decay) + ", nesterov=" + (o.nesterov ? "True" : "False") +
                   ", params=" + std::to_string(opt.params().size()) + ")";
        });
    def_option(sgd, "lr", &SGDOptions::lr, "The learning rate (settable between steps, e.g. for a schedule).");
    def_option(sgd, "momentum", &SGDOptions::momentum, "The momentum factor.");
    def_option(sgd, "weight_decay", &SGDOptions::weight_decay, "L2 penalty added to the gradient.");
    def_option(sgd, "nesterov", &SGDOptions::nesterov, "Whether to use Nesterov momentum.");

    py::class_<Adam, Optimizer> adam(m, "Adam",
                                     "Adam, as torch.optim.Adam (amsgrad off): moments m, v with bias\n"
                                     "correction; weight_decay adds weight_decay * p to the gradient.");
    def_init(
        adam,
        [](const Params& params, Real lr, std::pair<Real, Real> betas, Real eps, Real weight_decay) {
            return Adam(parameters_from(params), AdamOptions{lr, betas.first, betas.second, eps, weight_decay});
        },
        py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
        py::arg("weight_decay") = 0.0);
    adam.def(
            "step", [](Initialised<Adam> self) { self->step(); }, "Updates every parameter from its grad.")
        .def_property_readonly(
            "steps_taken", [](Initialised<Adam> self) { return self->steps_taken(); }, "Number of step() calls so far.")
        .def_property(
            "betas",
            [](Initialised<Adam> self) {
                const AdamOptions& o = self->options();
                return std::make_pair(o.beta1, o.beta2);
            },
            [](Initialised<Adam> self, std::pair<Real, Real> betas) {
                Adam& opt = *self;
                AdamOptions old = opt.options();
                opt.options().beta1 = betas.first;
                opt.options().beta2 = betas.second;
                try {
                    opt.validate();
                } catch (const std::invalid_argument&) {
                    opt.options() = old;
                    throw;
                }
            },
            "Decay rates of the first and second moment estimates.")
        .def("__repr__", [](Initialised<Adam> self) {
            Adam& opt = *self;
            const AdamOptions& o = opt.options();
            return "Adam(lr=" + number(o.lr) + ", betas=(" + number(o.beta1) + ", " + number(o.beta2) +
                   "), eps=" + number(o.eps) + ", weight_decay=" + number(o.weight_decay) +
                   ", params=" + std::to_string(opt.params().size()) + ")";
        });
    def_option(adam, "lr", &AdamOptions::lr, "The learning rate (settable between steps).");
    def_option(adam, "eps", &AdamOptions::eps, "Added to the denominator for numerical stability.");
    def_option(adam, "weight_decay", &AdamOptions::weight_decay, "L2 penalty added to the gradient.");
}
