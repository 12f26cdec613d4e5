// Optimizers: one step() updates every parameter from its grad, in C++.
// The arithmetic follows PyTorch's torch.optim (single-tensor code path)
// operation by operation, so trajectories agree with it to rounding.
#pragma once

#include <cstdint>
#include <vector>

#include "micrograd/value.hpp"

namespace micrograd {

class Optimizer {
public:
    // Throws std::invalid_argument for an empty list or a parameter given twice.
    explicit Optimizer(std::vector<Value> params);
    virtual ~Optimizer() = default;

    virtual void step() = 0;
    void zero_grad();  // grad = 0 for every parameter
    const std::vector<Value>& params() const { return params_; }

protected:
    std::vector<Value> params_;
};

struct SGDOptions {
    double lr;
    double momentum = 0.0;
    double weight_decay = 0.0;
    bool nesterov = false;
};

// p -= lr * g, where g = grad + weight_decay * p, through a momentum buffer
// b = momentum * b + g (b = g on the first step); nesterov uses g + momentum * b.
class SGD : public Optimizer {
public:
    SGD(std::vector<Value> params, SGDOptions options);  // throws std::invalid_argument for bad options
    void step() override;
    SGDOptions& options() { return options_; }
    void validate() const;

private:
    SGDOptions options_;
    std::vector<double> momentum_buffer_;  // empty until the first step with momentum
};

struct AdamOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
};

// Adam (Kingma & Ba) with bias correction; weight_decay adds to the gradient (L2, not AdamW).
class Adam : public Optimizer {
public:
    Adam(std::vector<Value> params, AdamOptions options);  // throws std::invalid_argument for bad options
    void step() override;
    AdamOptions& options() { return options_; }
    std::int64_t steps_taken() const { return steps_; }
    void validate() const;

private:
    AdamOptions options_;
    std::vector<double> exp_avg_, exp_avg_sq_;
    std::int64_t steps_ = 0;
};

}  // namespace micrograd
