// micrograd_cpp.optim's SGD and Adam: the update loop runs in C++, one call per step.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "init_guard.hpp"
#include "initialised.hpp"
#include "micrograd/optim.hpp"
#include "register.hpp"
#include "value_caster.hpp"
#include "value_type.hpp"

namespace py = pybind11;
using micrograd::Adam;
using micrograd::AdamOptions;
using micrograd::Optimizer;
using micrograd::SGD;
using micrograd::SGDOptions;
using micrograd::Value;

namespace {

using Params = py::typing::Iterable<Value>;  // the stub says Iterable[Value]

// Parameters must be Values already (a number would become a fresh leaf that nobody reads).
// Each is shared (retained) as soon as it is read, so the iterator may drop it afterwards.
std::vector<Value> parameters_from(const Params& params) {
    std::vector<Value> out;
    for (const py::handle& item : params) {
        if (!micrograd::python::is_value(item.ptr())) {
            throw py::type_error(std::string("optimizer params must be Values, not ") + Py_TYPE(item.ptr())->tp_name);
        }
        out.push_back(Value::share(micrograd::python::node_of(item.ptr())));
    }
    return out;
}

// A hyperparameter as a read-write property; an invalid value is refused and the old one kept.
template <class Opt, class Field>
void def_option(py::class_<Opt, Optimizer>& cls, const char* name, Field field, const char* doc) {
    cls.def_property(
        name, [field](Initialised<Opt> self) { return self->options().*field; },
        [field](Initialised<Opt> self, decltype(std::declval<Opt&>().options().*field) value) {
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
        [](const Params& params, double lr, double momentum, double weight_decay, bool nesterov) {
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
        [](const Params& params, double lr, std::pair<double, double> betas, double eps, double weight_decay) {
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
            [](Initialised<Adam> self, std::pair<double, double> betas) {
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
