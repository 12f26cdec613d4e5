// The ops: each one's forward value and local derivatives, side by side.
//
// backward(out, x[, y]) adds out's contribution to its operands' gradients
// (one step of the chain rule). Where PyTorch masks an undefined product to
// zero (0 ** 0, d/dk of 0 ** k), we do the same, so gradients match it.
// Everything else follows IEEE: inf and nan propagate, nothing traps.
#pragma once

#include <algorithm>
#include <cmath>
#include <string_view>

#include "micrograd/node.hpp"

namespace micrograd::ops {

struct Add {
    static double forward(double x, double y) { return x + y; }
    static void backward(const Node& out, Node& x, Node& y) {
        x.grad += out.grad;
        y.grad += out.grad;
    }
};

struct Sub {
    static double forward(double x, double y) { return x - y; }
    static void backward(const Node& out, Node& x, Node& y) {
        x.grad += out.grad;
        y.grad -= out.grad;
    }
};

struct Mul {
    static double forward(double x, double y) { return x * y; }
    static void backward(const Node& out, Node& x, Node& y) {
        x.grad += y.data * out.grad;
        y.grad += x.data * out.grad;
    }
};

struct Div {
    static double forward(double x, double y) { return x / y; }
    static void backward(const Node& out, Node& x, Node& y) {
        x.grad += out.grad / y.data;
        y.grad -= out.grad * x.data / (y.data * y.data);
    }
};

struct Neg {
    static double forward(double x) { return -x; }
    static void backward(const Node& out, Node& x) { x.grad -= out.grad; }
};

// d/dx x**k = k x**(k-1); taken as 0 when k == 0 (as PyTorch does, so 0**0 has no nan).
inline double power_rule(double x, double k) { return k == 0.0 ? 0.0 : k * std::pow(x, k - 1.0); }

struct PowConst {  // x ** k, k a constant kept in the node
    static double forward(double x, double k) { return std::pow(x, k); }
    static void backward(const Node& out, Node& x) { x.grad += power_rule(x.data, out.exponent) * out.grad; }
};

struct Pow {  // x ** y, both differentiable
    static double forward(double x, double y) { return std::pow(x, y); }
    static void backward(const Node& out, Node& x, Node& y) {
        x.grad += power_rule(x.data, y.data) * out.grad;
        // d/dy x**y = x**y ln x; at x == 0, y >= 0 the limit is 0, not 0 * -inf.
        const bool zero_base = x.data == 0.0 && y.data >= 0.0;
        y.grad += (zero_base ? 0.0 : out.data * std::log(x.data)) * out.grad;
    }
};

struct Tanh {
    static double forward(double x) { return std::tanh(x); }  // saturates to +-1, never overflows
    static void backward(const Node& out, Node& x) { x.grad += (1.0 - out.data * out.data) * out.grad; }
};

struct Relu {
    static double forward(double x) { return x < 0.0 ? 0.0 : x; }  // micrograd's form: nan stays nan
    static void backward(const Node& out, Node& x) { x.grad += (out.data > 0.0 ? out.grad : 0.0); }
};

struct Sigmoid {
    // exp only ever sees a non-positive argument, so it cannot overflow.
    static double forward(double x) {
        if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
        const double e = std::exp(x);
        return e / (1.0 + e);
    }
    static void backward(const Node& out, Node& x) { x.grad += out.data * (1.0 - out.data) * out.grad; }
};

struct Exp {
    static double forward(double x) { return std::exp(x); }
    static void backward(const Node& out, Node& x) { x.grad += out.data * out.grad; }
};

struct Log {
    static double forward(double x) { return std::log(x); }  // log(0) = -inf, log(x < 0) = nan
    static void backward(const Node& out, Node& x) { x.grad += out.grad / x.data; }
};

struct Softplus {  // log(1 + exp(x)), as PyTorch's log_sigmoid computes it: no overflow, no cancellation
    static double forward(double x) { return (std::max)(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
    static void backward(const Node& out, Node& x) { x.grad += Sigmoid::forward(x.data) * out.grad; }
};

// --- dispatch on the op code --------------------------------------------------

// The value of op at its operands' current data (the constant exponent for pow_const).
inline double forward(const Node& n) {
    const double x = n.lhs ? n.lhs->data : n.data;
    switch (n.op) {
        case Op::leaf: return n.data;
        case Op::add: return Add::forward(x, n.rhs->data);
        case Op::sub: return Sub::forward(x, n.rhs->data);
        case Op::mul: return Mul::forward(x, n.rhs->data);
        case Op::div: return Div::forward(x, n.rhs->data);
        case Op::pow: return Pow::forward(x, n.rhs->data);
        case Op::pow_const: return PowConst::forward(x, n.exponent);
        case Op::neg: return Neg::forward(x);
        case Op::tanh: return Tanh::forward(x);
        case Op::relu: return Relu::forward(x);
        case Op::sigmoid: return Sigmoid::forward(x);
        case Op::exp: return Exp::forward(x);
        case Op::log: return Log::forward(x);
        case Op::softplus: return Softplus::forward(x);
    }
    return n.data;
}

// Adds n's gradient contribution to its operands.
inline void backward(const Node& n) {
    switch (n.op) {
        case Op::leaf: return;
        case Op::add: return Add::backward(n, *n.lhs, *n.rhs);
        case Op::sub: return Sub::backward(n, *n.lhs, *n.rhs);
        case Op::mul: return Mul::backward(n, *n.lhs, *n.rhs);
        case Op::div: return Div::backward(n, *n.lhs, *n.rhs);
        case Op::pow: return Pow::backward(n, *n.lhs, *n.rhs);
        case Op::pow_const: return PowConst::backward(n, *n.lhs);
        case Op::neg: return Neg::backward(n, *n.lhs);
        case Op::tanh: return Tanh::backward(n, *n.lhs);
        case Op::relu: return Relu::backward(n, *n.lhs);
        case Op::sigmoid: return Sigmoid::backward(n, *n.lhs);
        case Op::exp: return Exp::backward(n, *n.lhs);
        case Op::log: return Log::backward(n, *n.lhs);
        case Op::softplus: return Softplus::backward(n, *n.lhs);
    }
}

// The op's name as micrograd spells it ("+", "*", "ReLU", ...); pow_const is "**"
// here, the binding appends the exponent as Python prints it.
std::string_view name(Op op);

}  // namespace micrograd::ops
