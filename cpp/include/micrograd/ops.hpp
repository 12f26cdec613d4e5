// The ops: each one's forward value and local derivatives, side by side.
//
// Each struct's forward works on plain doubles, and its derivative on any
// scalar type, so that one formula serves every engine:
//   forward(x[, y])                        the op's value
//   backward(g, x[, y], out, gx[, gy])     adds g * d(out)/d(operand) to each
//                                          operand's gradient
// where g is the gradient arriving at the op's output and out its value. On
// doubles that is the graph engine (below), the replay of a Graph and
// its batched kernel (graph_replay.hpp); on the terms of a gradient graph
// (gradient.cpp) the same formula builds the nodes that compute it, so that
// gradients can be differentiated again. A formula calls other ops by name
// (mask(g, out), sign(x), log(x), below): their struct's forward on doubles, a
// node of that op in a gradient graph. A mask is such an op too, evaluated
// with the data at hand, never a constant fixed when the gradient graph is
// built. The n-ary ops are folds of the binary ones: step() is one term and
// backward_step() its derivatives; the folds run them left to right.
//
// The derivative formulas are PyTorch's (tools/autograd/derivatives.yaml),
// operation by operation, so that gradients match its float64 ones, including
// where it masks an undefined product to zero (0 ** 0, d/dk of 0 ** k) and its
// overflow-safe forms (x / y); so do gradients of gradients (relu'' = 0 and
// abs'' = 0: mask and sign have derivative 0). Each formula adds to every
// operand's gradient, a zero too, as PyTorch's zeros_like is a tensor: where
// that zero meets an infinite local derivative further down, 0 * inf is nan in
// both. Everything else follows IEEE: inf and nan propagate, nothing traps.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>

#include "micrograd/node.hpp"

namespace micrograd::ops {

// The structs, declared first: a derivative formula may call any op by name.
#define MICROGRAD_DECLARE(id, Struct, ...) struct Struct;
MICROGRAD_OPS(MICROGRAD_DECLARE)
#undef MICROGRAD_DECLARE

// Each op as a function of its operands, for the derivative formulas: on
// doubles, its struct's forward (log(x) is Log::forward(x)); the terms of a
// gradient graph overload apply<Struct> to make a node of the op instead.
template <class S>
double apply(double x) {
    return S::forward(x);
}
template <class S>
double apply(double x, double y) {
    return S::forward(x, y);
}
#define MICROGRAD_OP_FUNCTION_unary(id, Struct) \
    template <class T>                          \
    auto id(const T& x) {                       \
        return apply<Struct>(x);                \
    }
#define MICROGRAD_OP_FUNCTION_binary(id, Struct) \
    template <class T, class U>                  \
    auto id(const T& x, const U& y) {            \
        return apply<Struct>(x, y);              \
    }
#define MICROGRAD_OP_FUNCTION_scalar(id, Struct) MICROGRAD_OP_FUNCTION_binary(id, Struct)
#define MICROGRAD_OP_FUNCTION_nary(id, Struct)
#define MICROGRAD_OP_FUNCTION(id, Struct, arity, ...) MICROGRAD_OP_FUNCTION_##arity(id, Struct)
MICROGRAD_OPS(MICROGRAD_OP_FUNCTION)
#undef MICROGRAD_OP_FUNCTION
#undef MICROGRAD_OP_FUNCTION_unary
#undef MICROGRAD_OP_FUNCTION_binary
#undef MICROGRAD_OP_FUNCTION_scalar
#undef MICROGRAD_OP_FUNCTION_nary

// In the derivatives below, T is the scalar (a double, or a term of a gradient
// graph) and G what a gradient accumulates in (a double, or a contribution).

struct Add {
    static constexpr const char* doc = "x + y. Local derivatives: 1, 1.";
    static double forward(double x, double y) { return x + y; }
    template <class T, class G>
    static void backward(T g, T, T, T, G& gx, G& gy) {
        gx += g;
        gy += g;
    }
};

struct Sub {
    static constexpr const char* doc = "x - y. Local derivatives: 1, -1.";
    static double forward(double x, double y) { return x - y; }
    template <class T, class G>
    static void backward(T g, T, T, T, G& gx, G& gy) {
        gx += g;
        gy += -g;
    }
};

struct Mul {
    static constexpr const char* doc = "x * y. Local derivatives: y, x.";
    static double forward(double x, double y) { return x * y; }
    template <class T, class G>
    static void backward(T g, T x, T y, T, G& gx, G& gy) {
        gx += g * y;
        gy += g * x;
    }
};

struct Div {
    static constexpr const char* doc = "x / y (IEEE: x / 0 is +-inf). Local derivatives: 1 / y, -(x / y) / y.";
    static double forward(double x, double y) { return x / y; }
    // d/dy is -g * ((x / y) / y), never g * x / (y * y): y * y over- or underflows
    // long before the quotient does (1e300 / 1e200 has d/dy -1e-100, not 0).
    template <class T, class G>
    static void backward(T g, T, T y, T out, G& gx, G& gy) {
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
    // not 0 * -inf), then times g (a nan in g stays nan). The masks as ops:
    // |y| <= 0 is y == 0, and |x| + relu(-y) <= 0 is x == 0 and y >= 0 (nan
    // keeps both, as the comparisons do).
    template <class T, class G>
    static void backward(T g, T x, T y, T out, G& gx, G& gy) {
        gx += mask(g * (y * pow(x, y - 1.0)), abs(y));
        gy += g * mask(out * log(x), abs(x) + relu(-y));
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
    // k is the node's constant, not data: deciding on it here is no frozen mask.
    template <class T, class G>
    static void backward(T g, T x, double k, T, G& gx) {
        if (k == 0.0)
            gx += 0.0;
        else
            gx += g * (k * pow_const(x, k - 1.0));
    }
};

struct Neg {
    static constexpr const char* doc = "-x, as a new Value (op 'neg'). Local derivative: -1.";
    static double forward(double x) { return -x; }
    template <class T, class G>
    static void backward(T g, T, T, G& gx) {
        gx += -g;
    }
};

struct Tanh {
    static constexpr const char* doc =
        "tanh(self), as a new Value (op 'tanh'). Saturates to +-1, never overflows.\n"
        "Local derivative: 1 - tanh(x)**2.";
    static double forward(double x) { return std::tanh(x); }
    template <class T, class G>
    static void backward(T g, T, T out, G& gx) {
        gx += g * (1.0 - out * out);
    }
};

struct Relu {
    static constexpr const char* doc =
        "max(self, 0), as a new Value (op 'ReLU'); relu(nan) is nan, as in micrograd and PyTorch.\n"
        "Local derivative: 0 where the output is <= 0, else 1; so 1 at nan, as PyTorch (micrograd gives 0).";
    static double forward(double x) { return x < 0.0 ? 0.0 : x; }  // micrograd's form: nan stays nan
    // g where out > 0 (or nan), else 0: PyTorch's threshold_backward, a select (0 even where g is inf).
    template <class T, class G>
    static void backward(T g, T, T out, G& gx) {
        gx += mask(g, out);
    }
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
    template <class T, class G>
    static void backward(T g, T, T out, G& gx) {
        gx += g * (1.0 - out) * out;
    }
};

struct Exp {
    static constexpr const char* doc =
        "exp(self), as a new Value (op 'exp'); overflows to inf above ~709.8.\nLocal derivative: exp(x).";
    static double forward(double x) { return std::exp(x); }
    template <class T, class G>
    static void backward(T g, T, T out, G& gx) {
        gx += g * out;
    }
};

struct Log {
    static constexpr const char* doc =
        "The natural logarithm, as a new Value (op 'log'): log(0) = -inf, log(x < 0) = nan.\n"
        "Local derivative: 1 / x.";
    static double forward(double x) { return std::log(x); }
    template <class T, class G>
    static void backward(T g, T x, T, G& gx) {
        gx += g / x;
    }
};

struct Softplus {  // log(1 + exp(x)), as PyTorch's log_sigmoid computes it: no overflow, no cancellation
    static constexpr const char* doc =
        "log(1 + exp(self)), as a new Value (op 'softplus'), computed without overflow or cancellation.\n"
        "Local derivative: sigmoid(x).";
    static double forward(double x) { return (x > 0.0 ? x : 0.0) + std::log1p(std::exp(-std::abs(x))); }
    template <class T, class G>
    static void backward(T g, T x, T, G& gx) {
        gx += g * sigmoid(x);
    }
};

struct Abs {
    static constexpr const char* doc =
        "|self|, as a new Value (op 'abs'); also abs(v).\n"
        "Local derivative: sign(x): 1, -1, and 0 at 0 (PyTorch's subgradient).";
    static double forward(double x) { return std::abs(x); }
    template <class T, class G>
    static void backward(T g, T x, T, G& gx) {
        gx += g * sign(x);  // PyTorch: grad * sgn(x)
    }
};

struct Sqrt {
    static constexpr const char* doc =
        "The square root, as a new Value (op 'sqrt'): sqrt(x < 0) = nan.\n"
        "Local derivative: 1 / (2 sqrt(x)), inf at 0.";
    static double forward(double x) { return std::sqrt(x); }
    template <class T, class G>
    static void backward(T g, T, T out, G& gx) {
        gx += g / (2.0 * out);
    }
};

// The two ops the derivatives above are masked with. Their own derivatives are
// 0 (PyTorch's zeros_like for sign and threshold_backward's operand), so
// relu'' = 0 and abs'' = 0, to any order.
struct Sign {
    static constexpr const char* doc = "sign(x): 1, -1, and 0 at 0 and nan (PyTorch's sign). Local derivative: 0.";
    static double forward(double x) { return double((0.0 < x) - (x < 0.0)); }
    template <class T, class G>
    static void backward(T, T, T, G& gx) {
        gx += 0.0;
    }
};

struct Mask {
    static constexpr const char* doc =
        "mask(x, m): x where m > 0 or m is nan, 0 where m <= 0 (even where x is inf or nan): relu's and\n"
        "pow's derivative masks. Local derivatives: 1 where x is kept, else 0; 0.";
    static double forward(double x, double m) { return m <= 0.0 ? 0.0 : x; }
    template <class T, class G>
    static void backward(T g, T, T m, T, G& gx, G& gm) {
        gx += mask(g, m);
        gm += 0.0;
    }
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
    template <class T, class G>
    static void backward(T g, T p, T t, T, G& gp, G& gt) {
        gp += g * (p - t) / at_least((1.0 - p) * p, epsilon);
        gt += -log(p / (1.0 - p)) * g;
    }
    // std::max(x, k), x < k ? k : x, as ops (a gradient graph's clamp follows the data): x where
    // x - k > 0, 0, or nan, plus k where x - k < 0; the other term is 0, so the sum is exact.
    template <class T>
    static auto at_least(const T& x, double k) {
        return mask(x, sign(x - k) + 1.0) + mask(k, -sign(x - k));
    }
};

// The n-ary ops are folds, left to right, over groups of `group` operands
// (Dot: pairs, Sum: single values): from 0.0, or with from_first from their
// first operand (then the groups follow it). Here are their steps and their
// derivatives; the folds over the graph's own nodes are below (detail), the
// batch's over lanes in graph_batch_kernel.cpp.

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
    // (Mul's and Add's derivatives do not read the values they are not given here: g stands in.)
    template <class T, class G>
    static void backward_step(T g, T a, T b, G& ga, G& gb) {
        Mul::backward(g, a, b, g, ga, gb);
    }
    // The start's: Add's.
    template <class T, class G>
    static void backward_start(T g, G& gstart) {
        G unused{};
        Add::backward(g, g, g, g, gstart, unused);
    }
};

// values[0] + values[1] + ..., left to right: the value of Python's
// sum(values, start). With Python's default start 0 the fold begins at 0.0
// (0 + x is 0.0 + x); an explicit start is the first operand (from_first).
struct Sum {
    static constexpr const char* doc = "start + values[0] + values[1] + ..., left to right. Local derivatives: 1.";
    static constexpr std::size_t group = 1;
    static double step(double acc, double x) { return Add::forward(acc, x); }
    template <class T, class G>
    static void backward_step(T g, G& gx) {  // d(acc + x)/dx = 1, Add's
        G unused{};
        Add::backward(g, g, g, g, unused, gx);
    }
    template <class T, class G>
    static void backward_start(T g, G& gstart) {
        backward_step(g, gstart);
    }
};

// --- the ops users define (op_table.hpp's MICROGRAD_USER_OPS) ----------------
// Their value is the data given when the node was made: forward() returns it.

// microgpt's Value(data, children, local_grads): each operand's local derivative is a constant
// given with the node, kept in it beside the operands (Node::locals()).
struct LocalGrads {
    static constexpr const char* doc =
        "A node of given data and given local derivatives (microgpt's Value(data, children, local_grads)).\n"
        "Local derivatives: the given numbers, constants (so its second derivatives are 0).";
    template <class T, class G>
    static void backward_step(T g, double local, G& gx) {
        gx += g * local;
    }
};

// micrograd's Value(data, children, op) with out._backward = f: the backward is code of the
// user's, which the custom-backward hook runs (graph.hpp).
struct Custom {
    static constexpr const char* doc =
        "A node of given data whose backward is the user's code (micrograd's out._backward = f).";
};

// Runs node's custom backward through the hook (graph.cpp); throws what the hook throws.
void custom_backward(const Node& node);

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
// The ops users define hold the value they were given.
template <class S>
double forward_local(const Node& n) {
    return n.data;
}
template <class S>
double forward_custom(const Node& n) {
    return n.data;
}
// The chain rule at node n, for any scalar: g is the gradient reaching n,
// value(p) the value of node p as the formulas take it (its data, or a term of
// a gradient graph), slot(p, k) where the gradient of n's k-th operand p
// accumulates (first operand first; p's own grad, or a contribution).
template <class S, class T, class Value, class Slot>
void chain_unary(const Node& n, T g, Value& value, Slot& slot) {
    S::backward(g, value(n.lhs), value(&n), slot(n.lhs, 0));
}
template <class S, class T, class Value, class Slot>
void chain_binary(const Node& n, T g, Value& value, Slot& slot) {
    S::backward(g, value(n.lhs), value(n.rhs), value(&n), slot(n.lhs, 0), slot(n.rhs, 1));
}
template <class S, class T, class Value, class Slot>
void chain_scalar(const Node& n, T g, Value& value, Slot& slot) {
    S::backward(g, value(n.lhs), n.exponent, value(&n), slot(n.lhs, 0));
}
template <class S, class T, class Value, class Slot>
void chain_nary(const Node& n, T g, Value& value, Slot& slot) {
    Node* const* x = n.operands;
    const bool from_first = n.test(Node::fold_from_first);
    if (from_first) S::backward_start(g, slot(x[0], 0));
    for (std::size_t i = from_first; i + S::group <= n.count; i += S::group) {
        if constexpr (S::group == 1)
            S::backward_step(g, slot(x[i], i));
        else
            S::backward_step(g, value(x[i]), value(x[i + 1]), slot(x[i], i), slot(x[i + 1], i + 1));
    }
}
// A local_grads node: its given numbers, constants (in a gradient graph, constant leaves).
template <class S, class T, class Value, class Slot>
void chain_local(const Node& n, T g, Value&, Slot& slot) {
    const double* local = n.locals();
    for (std::size_t i = 0; i < n.count; ++i)
        S::backward_step(g, local[i], slot(n.operands[i], i));
}
// A custom node's derivative is code, not a formula: whoever walks a graph with one runs it
// (backward(), below) or refuses it (gradient.cpp) before reaching here.
template <class S, class T, class Value, class Slot>
void chain_custom(const Node&, T, Value&, Slot&) {}
}  // namespace detail

// The chain rule at n (see detail::chain_unary): adds g * d(n)/d(operand) to
// each operand's slot, with the op's own formula.
template <class T, class Value, class Slot>
void chain_rule(const Node& n, T g, Value&& value, Slot&& slot) {
    switch (n.op) {
        case Op::leaf: return;
#define MICROGRAD_CHAIN(id, Struct, arity, ...) \
    case Op::id: return detail::chain_##arity<Struct>(n, g, value, slot);
            MICROGRAD_OPS(MICROGRAD_CHAIN)
            MICROGRAD_USER_OPS(MICROGRAD_CHAIN)
#undef MICROGRAD_CHAIN
    }
}

// The value of op at its operands' current data (a leaf: its own data).
inline double forward(const Node& n) {
    switch (n.op) {
        case Op::leaf: return n.data;
#define MICROGRAD_FORWARD(id, Struct, arity, ...) \
    case Op::id: return detail::forward_##arity<Struct>(n);
            MICROGRAD_OPS(MICROGRAD_FORWARD)
            MICROGRAD_USER_OPS(MICROGRAD_FORWARD)
#undef MICROGRAD_FORWARD
    }
    return n.data;
}

// Adds n's gradient contribution to its operands' grad.
inline void backward(const Node& n) {
    if (n.op == Op::custom) return custom_backward(n);  // the user's code: it adds to the operands' grad
    chain_rule(
        n, n.grad, [](const Node* p) { return p->data; }, [](Node* p, std::size_t) -> double& { return p->grad; });
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
