#include "micrograd/optim.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace micrograd {
namespace {
void require(bool ok, const std::string& message) {
    if (!ok) throw std::invalid_argument(message);
}
std::string str(double x) {
    std::ostringstream out;
    out << x;
    return out.str();
}
}  // namespace

Optimizer::Optimizer(std::vector<Value> params) : params_(std::move(params)) {
    require(!params_.empty(), "optimizer got an empty parameter list");
    std::unordered_set<const Node*> seen;
    for (const Value& p : params_)
        require(seen.insert(p.node()).second, "optimizer got the same parameter twice");
}

void Optimizer::zero_grad() {
    for (Value& p : params_)
        p.set_grad(0.0);
}

SGD::SGD(std::vector<Value> params, SGDOptions options) : Optimizer(std::move(params)), options_(options) {
    validate();
}

void SGD::validate() const {
    const SGDOptions& o = options_;
    require(o.lr >= 0.0, "invalid learning rate: " + str(o.lr) + " (must be >= 0)");
    require(o.momentum >= 0.0, "invalid momentum: " + str(o.momentum) + " (must be >= 0)");
    require(o.weight_decay >= 0.0, "invalid weight_decay: " + str(o.weight_decay) + " (must be >= 0)");
    require(!o.nesterov || o.momentum > 0.0, "nesterov momentum requires a momentum > 0");
}

void SGD::step() {
    const SGDOptions& o = options_;
    const bool first = momentum_buffer_.empty();
    if (o.momentum != 0.0 && first) momentum_buffer_.resize(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
        Node& p = *params_[i].node();
        double g = p.grad;
        if (o.weight_decay != 0.0) g += o.weight_decay * p.data;
        if (o.momentum != 0.0) {
            double& buffer = momentum_buffer_[i];
            buffer = first ? g : o.momentum * buffer + g;
            g = o.nesterov ? g + o.momentum * buffer : buffer;
        }
        p.data += -o.lr * g;
    }
}

Adam::Adam(std::vector<Value> params, AdamOptions options)
    : Optimizer(std::move(params)), options_(options), exp_avg_(params_.size(), 0.0), exp_avg_sq_(params_.size(), 0.0) {
    validate();
}

void Adam::validate() const {
    const AdamOptions& o = options_;
    require(o.lr >= 0.0, "invalid learning rate: " + str(o.lr) + " (must be >= 0)");
    require(o.eps >= 0.0, "invalid eps: " + str(o.eps) + " (must be >= 0)");
    require(o.beta1 >= 0.0 && o.beta1 < 1.0, "invalid beta1: " + str(o.beta1) + " (must be in [0, 1))");
    require(o.beta2 >= 0.0 && o.beta2 < 1.0, "invalid beta2: " + str(o.beta2) + " (must be in [0, 1))");
    require(o.weight_decay >= 0.0, "invalid weight_decay: " + str(o.weight_decay) + " (must be >= 0)");
}

// As torch.optim.Adam's _single_tensor_adam: lerp for the first moment,
// bias corrections folded into the step size and the denominator.
void Adam::step() {
    const AdamOptions& o = options_;
    ++steps_;
    const double bias_correction1 = 1.0 - std::pow(o.beta1, double(steps_));
    const double bias_correction2 = 1.0 - std::pow(o.beta2, double(steps_));
    const double step_size = o.lr / bias_correction1;
    const double bias_correction2_sqrt = std::sqrt(bias_correction2);
    const double weight = 1.0 - o.beta1;
    for (std::size_t i = 0; i < params_.size(); ++i) {
        Node& p = *params_[i].node();
        double g = p.grad;
        if (o.weight_decay != 0.0) g += o.weight_decay * p.data;
        double& m = exp_avg_[i];
        m = weight < 0.5 ? m + weight * (g - m) : g - (g - m) * (1.0 - weight);  // torch.lerp
        double& v = exp_avg_sq_[i];
        v = v * o.beta2 + (1.0 - o.beta2) * g * g;  // torch.addcmul: value * t1 * t2
        const double denom = std::sqrt(v) / bias_correction2_sqrt + o.eps;
        p.data += -step_size * (m / denom);
    }
}

}  // namespace micrograd
