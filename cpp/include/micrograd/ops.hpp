// The ops: each one's forward value and local derivatives, side by side.
//
// Each struct works on plain doubles, so that the graph engine (below), the
// replay of a captured graph and its batched kernel (tape.hpp) all call the
// same formulas:
//   forward(x[, y])                        the op's value
//   backward(g, x[, y], out, gx[, gy])     adds g * d(out)/d(operand) to each
//                                          operand's gradient
// where g is the gradient arriving at the op's output and out its value. The
// n-ary ops are folds of the binary ones: step() is one term and
// backward_step() its derivatives; the folds run them left to right.
//
// The derivative formulas are PyTorch's (tools/autograd/derivatives.yaml),
// operation by operation, so that gradients match its float64 ones, including
// where it masks an undefined product to zero (0 ** 0, d/dk of 0 ** k) and its
// overflow-safe forms (x / y). Everything else follows IEEE: inf and nan
// propagate, nothing traps.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>

#include "micrograd/node.hpp"

namespace micrograd::ops {

struct Add {
    static constexpr const char* doc = "x + y. Local derivatives: 1, 1.";
    static double forward(double x, double y) { return x + y; }
    static void backward(double g, double, double, double, double& gx, double& gy) {
        gx += g;
        gy += g;
    }
};

struct Sub {
    static constexpr const char* doc = "x - y. Local derivatives: 1, -1.";
    static double forward(double x, double y) { return x - y; }
    static void backward(double g, double, double, double, double& gx, double& gy) {
        gx += g;
        gy += -g;
    }
};

struct Mul {
    static constexpr const char* doc = "x * y. Local derivatives: y, x.";
    static double forward(double x, double y) { return x * y; }
    static void backward(double g, double x, double y, double, double& gx, double& gy) {
        gx += g * y;
        gy += g * x;
    }
};

struct Div {
    static constexpr const char* doc = "x / y (IEEE: x / 0 is +-inf). Local derivatives: 1 / y, -(x / y) / y.";
    static double forward(double x, double y) { return x / y; }
    // d/dy is -g * ((x / y) / y), never g * x / (y * y): y * y over- or underflows
    // long before the quotient does (1e300 / 1e200 has d/dy -1e-100, not 0).
    static void backward(double g, double, double y, double out, double& gx, double& gy) {
        gx += g / y;
        gy += -g * (out / y);
    }
};

struct Pow {  // x ** y, both differentiable
    static constexpr const char* doc =
        "x ** y. Local derivatives: y * x ** (y - 1) (0 where y == 0), x ** y * log(x) (0 where x == 0, y >= 0).";
    static double forward(double x, double y) { return std::pow(x, y); }
    // As PyTorch's pow_backward_self and pow_backward_exponent: d/dx is 0 where
    // y == 0, the whole product with g (so 0 ** 0 has no nan, even when g is
    // nan); d/dy's local derivative is 0 where x == 0 and y >= 0 (the limit,
    // not 0 * -inf), then times g (a nan in g stays nan).
    static void backward(double g, double x, double y, double out, double& gx, double& gy) {
        gx += y == 0.0 ? 0.0 : g * (y * std::pow(x, y - 1.0));
        gy += g * ((x == 0.0 && y >= 0.0) ? 0.0 : out * std::log(x));
    }
};

// x ** k for a constant k as PyTorch computes it (its pow_tensor_scalar
// kernel): exponents 0.5, -0.5, -1, 2, 3, -2 by sqrt and products, the rest by
// pow. Equal to std::pow within an ulp, and exactly so at the edges where they
// differ (sqrt(-0.0) is -0.0, 1 / sqrt(-0.0) is -inf, sqrt(-inf) is nan).
inline double power(double x, double k) {
    if (k == 0.5) return std::sqrt(x);
    if (k == -0.5) return 1.0 / std::sqrt(x);
    if (k == -1.0) return 1.0 / x;
    if (k == 2.0) return x * x;
    if (k == 3.0) return x * x * x;
    if (k == -2.0) return 1.0 / (x * x);
    return std::pow(x, k);
}

struct PowConst {  // x ** k, k a constant kept in the node
    static constexpr const char* doc = "x ** k for a constant k. Local derivative: k * x ** (k - 1) (0 where k == 0).";
    static double forward(double x, double k) { return power(x, k); }
    static void backward(double g, double x, double k, double, double& gx) {
        gx += k == 0.0 ? 0.0 : g * (k * power(x, k - 1.0));
    }
};

struct Neg {
    static constexpr const char* doc = "-x, as a new Value (op 'neg'). Local derivative: -1.";
    static double forward(double x) { return -x; }
    static void backward(double g, double, double, double& gx) { gx += -g; }
};

struct Tanh {
    static constexpr const char* doc =
        "tanh(self), as a new Value (op 'tanh'). Saturates to +-1, never overflows.\n"
        "Local derivative: 1 - tanh(x)**2.";
    static double forward(double x) { return std::tanh(x); }
    static void backward(double g, double, double out, double& gx) { gx += g * (1.0 - out * out); }
};

struct Relu {
    static constexpr const char* doc =
        "max(self, 0), as a new Value (op 'ReLU'); relu(nan) is nan, as in micrograd and PyTorch.\n"
        "Local derivative: 0 where the output is <= 0, else 1; so 1 at nan, as PyTorch (micrograd gives 0).";
    static double forward(double x) { return x < 0.0 ? 0.0 : x; }  // micrograd's form: nan stays nan
    static void backward(double g, double, double out, double& gx) { gx += out <= 0.0 ? 0.0 : g; }
};

struct Sigmoid {
    static constexpr const char* doc =
        "1 / (1 + exp(-self)), as a new Value (op 'sigmoid'), computed without overflow for any input.\n"
        "Local derivative: s * (1 - s).";
    // exp only ever sees a non-positive argument, so it cannot overflow.
    static double forward(double x) {
        if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
        const double e = std::exp(x);
        return e / (1.0 + e);
    }
    static void backward(double g, double, double out, double& gx) { gx += g * (1.0 - out) * out; }
};

struct Exp {
    static constexpr const char* doc =
        "exp(self), as a new Value (op 'exp'); overflows to inf above ~709.8.\nLocal derivative: exp(x).";
    static double forward(double x) { return std::exp(x); }
    static void backward(double g, double, double out, double& gx) { gx += g * out; }
};

struct Log {
    static constexpr const char* doc =
        "The natural logarithm, as a new Value (op 'log'): log(0) = -inf, log(x < 0) = nan.\n"
        "Local derivative: 1 / x.";
    static double forward(double x) { return std::log(x); }
    static void backward(double g, double x, double, double& gx) { gx += g / x; }
};

struct Softplus {  // log(1 + exp(x)), as PyTorch's log_sigmoid computes it: no overflow, no cancellation
    static constexpr const char* doc =
        "log(1 + exp(self)), as a new Value (op 'softplus'), computed without overflow or cancellation.\n"
        "Local derivative: sigmoid(x).";
    static double forward(double x) { return (x > 0.0 ? x : 0.0) + std::log1p(std::exp(-std::abs(x))); }
    static void backward(double g, double x, double, double& gx) { gx += g * Sigmoid::forward(x); }
};

struct Abs {
    static constexpr const char* doc =
        "|self|, as a new Value (op 'abs'); also abs(v).\n"
        "Local derivative: sign(x): 1, -1, and 0 at 0 (PyTorch's subgradient).";
    static double forward(double x) { return std::abs(x); }
    static void backward(double g, double x, double, double& gx) {
        gx += g * double((0.0 < x) - (x < 0.0));  // PyTorch: grad * sgn(x), sgn(0) = sgn(nan) = 0
    }
};

struct Sqrt {
    static constexpr const char* doc =
        "The square root, as a new Value (op 'sqrt'): sqrt(x < 0) = nan.\n"
        "Local derivative: 1 / (2 sqrt(x)), inf at 0.";
    static double forward(double x) { return std::sqrt(x); }
    static void backward(double g, double, double out, double& gx) { gx += g / (2.0 * out); }
};

// PyTorch's binary_cross_entropy of a probability p against a target t, both in
// [0, 1], as its CPU kernel computes it: -(t log p + (1 - t) log(1 - p)), each
// log clamped at -100 (so p = 0 or 1 gives a finite loss), log(1 - p) as
// log1p(-p). Its derivatives are PyTorch's formulas, not those of the clamped
// logs: d/dp = (p - t) / max(p (1 - p), eps), with eps the float 1e-12 (so the
// clamp does not cut the gradient to 0, and p = 1e-20 gives -1e12, not -1e20),
// and d/dt = -logit(p) = -log(p / (1 - p)).
struct BinaryCrossEntropy {
    static constexpr const char* doc =
        "PyTorch's binary_cross_entropy(p, t) = -(t log p + (1 - t) log(1 - p)), each log clamped at -100.\n"
        "Local derivatives, PyTorch's: (p - t) / max(p (1 - p), 1e-12), -log(p / (1 - p)).";
    static constexpr double epsilon = double(1e-12f);  // PyTorch's EPSILON is a float
    static double forward(double p, double t) {
        return (t - 1.0) * std::max(std::log1p(-p), -100.0) - t * std::max(std::log(p), -100.0);
    }
    static void backward(double g, double p, double t, double, double& gp, double& gt) {
        gp += g * (p - t) / std::max((1.0 - p) * p, epsilon);
        gt += -std::log(p / (1.0 - p)) * g;
    }
};

// The n-ary ops are folds, left to right, over groups of `group` operands
// (Dot: pairs, Sum: single values): from 0.0, or with from_first from their
// first operand (then the groups follow it). Here are their steps and their
// derivatives; the folds over the graph's own nodes are below (detail), the
// batch's over lanes in tape_batch.cpp.

// sum(a[i] * b[i]) from 0.0, left to right: the value of Python's
// sum(a * b for a, b in zip(a, b)), bit for bit. Operands are stored in pairs:
// a[0], b[0], a[1], b[1], ... With from_first the fold starts at a first
// operand instead: start + a[0] * b[0] + ..., as micrograd's neuron sums (the
// replay's kernel fuses such chains of + and * into one step this way).
struct Dot {
    static constexpr const char* doc = "sum(a[i] * b[i]), left to right. Local derivatives: b[i], a[i].";
    static constexpr std::size_t group = 2;
    static double step(double acc, double a, double b) { return Add::forward(acc, Mul::forward(a, b)); }
    // d(acc + a * b) reaches a * b unchanged (Add's derivative is 1), then Mul's.
    static void backward_step(double g, double a, double b, double& ga, double& gb) {
        Mul::backward(g, a, b, 0.0 /* unused */, ga, gb);
    }
    // The start's: Add's.
    static void backward_start(double g, double& gstart) {
        double unused = 0.0;
        Add::backward(g, 0.0, 0.0, 0.0, gstart, unused);
    }
};

// values[0] + values[1] + ..., left to right: the value of Python's
// sum(values, start). With Python's default start 0 the fold begins at 0.0
// (0 + x is 0.0 + x); an explicit start is the first operand (from_first).
struct Sum {
    static constexpr const char* doc = "start + values[0] + values[1] + ..., left to right. Local derivatives: 1.";
    static constexpr std::size_t group = 1;
    static double step(double acc, double x) { return Add::forward(acc, x); }
    static void backward_step(double g, double& gx) {  // d(acc + x)/dx = 1, Add's
        double unused = 0.0;
        Add::backward(g, 0.0, 0.0, 0.0, unused, gx);
    }
    static void backward_start(double g, double& gstart) { backward_step(g, gstart); }
};

// --- dispatch on the op code, for the graph's own nodes ----------------------

namespace detail {
template <class S>
double forward_unary(const Node& n) {
    return S::forward(n.lhs->data);
}
template <class S>
double forward_binary(const Node& n) {
    return S::forward(n.lhs->data, n.rhs->data);
}
template <class S>
double forward_scalar(const Node& n) {
    return S::forward(n.lhs->data, n.exponent);
}
template <class S>
double forward_nary(const Node& n) {
    Node* const* x = n.operands;
    const bool from_first = n.test(Node::fold_from_first);
    double acc = from_first ? x[0]->data : 0.0;
    for (std::size_t i = from_first; i + S::group <= n.count; i += S::group) {
        if constexpr (S::group == 1)
            acc = S::step(acc, x[i]->data);
        else
            acc = S::step(acc, x[i]->data, x[i + 1]->data);
    }
    return acc;
}
template <class S>
void backward_unary(const Node& n) {
    S::backward(n.grad, n.lhs->data, n.data, n.lhs->grad);
}
template <class S>
void backward_binary(const Node& n) {
    S::backward(n.grad, n.lhs->data, n.rhs->data, n.data, n.lhs->grad, n.rhs->grad);
}
template <class S>
void backward_scalar(const Node& n) {
    S::backward(n.grad, n.lhs->data, n.exponent, n.data, n.lhs->grad);
}
template <class S>
void backward_nary(const Node& n) {
    Node* const* x = n.operands;
    const bool from_first = n.test(Node::fold_from_first);
    const double g = n.grad;
    if (from_first) S::backward_start(g, x[0]->grad);
    for (std::size_t i = from_first; i + S::group <= n.count; i += S::group) {
        if constexpr (S::group == 1)
            S::backward_step(g, x[i]->grad);
        else
            S::backward_step(g, x[i]->data, x[i + 1]->data, x[i]->grad, x[i + 1]->grad);
    }
}
}  // namespace detail

// The value of op at its operands' current data (a leaf: its own data).
inline double forward(const Node& n) {
    switch (n.op) {
        case Op::leaf: return n.data;
#define MICROGRAD_FORWARD(id, Struct, arity, ...) \
    case Op::id: return detail::forward_##arity<Struct>(n);
            MICROGRAD_OPS(MICROGRAD_FORWARD)
#undef MICROGRAD_FORWARD
    }
    return n.data;
}

// Adds n's gradient contribution to its operands.
inline void backward(const Node& n) {
    switch (n.op) {
        case Op::leaf: return;
#define MICROGRAD_BACKWARD(id, Struct, arity, ...) \
    case Op::id: return detail::backward_##arity<Struct>(n);
            MICROGRAD_OPS(MICROGRAD_BACKWARD)
#undef MICROGRAD_BACKWARD
    }
}

// The op's name as micrograd spells it ("+", "*", "ReLU", ...); pow_const is "**"
// here, the binding appends the exponent as Python prints it.
std::string_view name(Op op);

// What the op table says of an op, for the bindings.
struct Info {
    Op op;
    const char* id;  // "tanh"
    Arity arity;
    const char* name;      // micrograd's: "ReLU"
    const char* method;    // the Python method, "" if none
    const char* spelling;  // "x.tanh()"
    const char* doc;       // its formula and local derivatives, in a sentence or two
};
extern const Info table[];
extern const std::size_t table_size;

}  // namespace micrograd::ops
