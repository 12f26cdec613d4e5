#include "micrograd/tape.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>

#include "micrograd/graph.hpp"
#include "micrograd/ops.hpp"

namespace micrograd {
namespace {

constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();

// The replay on the nodes keeps values in registers across steps (Recent,
// below): that holds only if the step functions are inlined into its loop.
#if defined(__GNUC__) || defined(__clang__)
#define MICROGRAD_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define MICROGRAD_ALWAYS_INLINE __forceinline
#else
#define MICROGRAD_ALWAYS_INLINE inline
#endif

// The kernel: one step over n lanes, value v of lane b at lanes[v * stride + b].
// The scalar replay is the same code with one lane (Lanes = One), so the
// compiler drops the lane loop there; over a batch the loops run along
// contiguous lanes and vectorise. Either way each op is its struct in ops.hpp.
struct One {
    static constexpr std::size_t stride = 1;
    static constexpr std::size_t n = 1;
};
struct Many {
    std::size_t stride, n;
};

// An operand of a step over lanes is a lane slot, or, with this bit, a uniform
// node (one value for every row, data_ and grad_ by node index): read as a
// scalar, its gradient summed over the lanes in registers. The uniform program
// (Tape::uniform_) uses node indices alone.
constexpr std::uint32_t uniform_bit = std::uint32_t(1) << 31;
constexpr bool is_uniform(std::uint32_t v) { return (v & uniform_bit) != 0; }
constexpr std::uint32_t node_of(std::uint32_t v) { return v & ~uniform_bit; }

struct Memory {
    double* data;  // lanes: value v of lane b at data[v * stride + b]
    double* grad;
    const double* uniform;  // the uniform nodes' values and gradients, by node index
    double* uniform_grad;
    const std::uint32_t* args;  // the n-ary steps' operands
    const double* constants;    // pow_const's exponents
};

// Adds to `into` the sum over the lanes of what contribution(b, acc) adds to acc
// for lane b: eight running sums (one chain of adds would wait on each add).
template <class Lanes, class F>
void sum_over_lanes(const Lanes& lanes, double& into, F contribution) {
    double part[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    std::size_t b = 0;
    if constexpr (!std::is_same_v<Lanes, One>) {
        for (; b + 8 <= lanes.n; b += 8)
            for (std::size_t k = 0; k < 8; ++k)
                contribution(b + k, part[k]);
    }
    for (std::size_t k = 0; b < lanes.n; ++b, ++k)
        contribution(b, part[k]);
    into += ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

template <class Lanes, class S, class Step>
void forward_unary(const Lanes& lanes, const Step& s, const Memory& m) {
    double* __restrict out = m.data + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        out[b] = S::forward(x[b]);
}

template <class Lanes, class S, class Step>
void forward_binary(const Lanes& lanes, const Step& s, const Memory& m) {
    double* __restrict out = m.data + s.out * lanes.stride;
    if (is_uniform(s.x)) {
        const double x = m.uniform[node_of(s.x)];
        const double* y = m.data + s.y * lanes.stride;
        for (std::size_t b = 0; b < lanes.n; ++b)
            out[b] = S::forward(x, y[b]);
    } else if (is_uniform(s.y)) {
        const double* x = m.data + s.x * lanes.stride;
        const double y = m.uniform[node_of(s.y)];
        for (std::size_t b = 0; b < lanes.n; ++b)
            out[b] = S::forward(x[b], y);
    } else {
        const double* x = m.data + s.x * lanes.stride;
        const double* y = m.data + s.y * lanes.stride;
        for (std::size_t b = 0; b < lanes.n; ++b)
            out[b] = S::forward(x[b], y[b]);
    }
}

template <class Lanes, class S, class Step>
void forward_scalar(const Lanes& lanes, const Step& s, const Memory& m) {
    double* __restrict out = m.data + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    const double k = m.constants[s.y];
    for (std::size_t b = 0; b < lanes.n; ++b)
        out[b] = S::forward(x[b], k);
}

// An n-ary step: S's fold, left to right from its start, over groups of
// S::group operands (Dot: pairs, Sum: single values), each lanes or uniform.
// Eight lanes at a time, so that the running sums stay in registers through
// all the operands.
template <class S, std::size_t N>
void fold_block(const std::uint32_t* operands, std::size_t count, bool from_first, const Memory& m, std::size_t stride,
                std::size_t b0, std::size_t n, double (&acc)[N]) {
    auto value = [&](std::uint32_t v, std::size_t b) {
        return is_uniform(v) ? m.uniform[node_of(v)] : m.data[v * stride + b0 + b];
    };
    for (std::size_t b = 0; b < n; ++b)
        acc[b] = from_first ? value(operands[0], b) : 0.0;  // the fold's start
    for (std::size_t i = from_first; i + S::group <= count; i += S::group) {
        if constexpr (S::group == 1) {
            const std::uint32_t v = operands[i];
            if (is_uniform(v)) {
                const double x = m.uniform[node_of(v)];
                for (std::size_t b = 0; b < n; ++b)
                    acc[b] = S::step(acc[b], x);
            } else {
                const double* x = m.data + v * stride + b0;
                for (std::size_t b = 0; b < n; ++b)
                    acc[b] = S::step(acc[b], x[b]);
            }
        } else {
            const std::uint32_t u = operands[i], v = operands[i + 1];
            if (is_uniform(u) && is_uniform(v)) {
                const double xu = m.uniform[node_of(u)], yu = m.uniform[node_of(v)];
                for (std::size_t b = 0; b < n; ++b)
                    acc[b] = S::step(acc[b], xu, yu);
            } else if (is_uniform(u)) {
                const double xu = m.uniform[node_of(u)];
                const double* y = m.data + v * stride + b0;
                for (std::size_t b = 0; b < n; ++b)
                    acc[b] = S::step(acc[b], xu, y[b]);
            } else if (is_uniform(v)) {
                const double* x = m.data + u * stride + b0;
                const double yu = m.uniform[node_of(v)];
                for (std::size_t b = 0; b < n; ++b)
                    acc[b] = S::step(acc[b], x[b], yu);
            } else {
                const double* x = m.data + u * stride + b0;
                const double* y = m.data + v * stride + b0;
                for (std::size_t b = 0; b < n; ++b)
                    acc[b] = S::step(acc[b], x[b], y[b]);
            }
        }
    }
}

template <class Lanes, class S, class Step>
void forward_nary(const Lanes& lanes, const Step& s, const Memory& m) {
    const std::uint32_t* operands = m.args + s.x;
    const bool from_first = (s.flags & Node::fold_from_first) != 0;
    double* out = m.data + s.out * lanes.stride;
    std::size_t b0 = 0;
    if constexpr (!std::is_same_v<Lanes, One>) {
        for (; b0 + 8 <= lanes.n; b0 += 8) {
            double acc[8];  // a local: nothing else can write it, so it stays in registers
            fold_block<S>(operands, s.y, from_first, m, lanes.stride, b0, 8, acc);
            std::copy(acc, acc + 8, out + b0);
        }
    }
    if (b0 == lanes.n) return;
    double acc[8];
    fold_block<S>(operands, s.y, from_first, m, lanes.stride, b0, lanes.n - b0, acc);
    std::copy(acc, acc + (lanes.n - b0), out + b0);
}

template <class Lanes, class S, class Step>
void backward_unary(const Lanes& lanes, const Step& s, const Memory& m) {
    const double* out = m.data + s.out * lanes.stride;
    const double* g = m.grad + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    double* gx = m.grad + s.x * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        S::backward(g[b], x[b], out[b], gx[b]);
}

template <class Lanes, class S, class Step>
void backward_binary(const Lanes& lanes, const Step& s, const Memory& m) {
    const double* out = m.data + s.out * lanes.stride;
    const double* g = m.grad + s.out * lanes.stride;
    if (is_uniform(s.x)) {
        const double x = m.uniform[node_of(s.x)];
        const double* y = m.data + s.y * lanes.stride;
        double* gy = m.grad + s.y * lanes.stride;
        sum_over_lanes(lanes, m.uniform_grad[node_of(s.x)],
                       [&](std::size_t b, double& gx) { S::backward(g[b], x, y[b], out[b], gx, gy[b]); });
    } else if (is_uniform(s.y)) {
        const double* x = m.data + s.x * lanes.stride;
        double* gx = m.grad + s.x * lanes.stride;
        const double y = m.uniform[node_of(s.y)];
        sum_over_lanes(lanes, m.uniform_grad[node_of(s.y)],
                       [&](std::size_t b, double& gy) { S::backward(g[b], x[b], y, out[b], gx[b], gy); });
    } else {
        const double* x = m.data + s.x * lanes.stride;
        const double* y = m.data + s.y * lanes.stride;
        double* gx = m.grad + s.x * lanes.stride;
        double* gy = m.grad + s.y * lanes.stride;
        for (std::size_t b = 0; b < lanes.n; ++b)
            S::backward(g[b], x[b], y[b], out[b], gx[b], gy[b]);
    }
}

template <class Lanes, class S, class Step>
void backward_scalar(const Lanes& lanes, const Step& s, const Memory& m) {
    const double* out = m.data + s.out * lanes.stride;
    const double* g = m.grad + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    double* gx = m.grad + s.x * lanes.stride;
    const double k = m.constants[s.y];
    for (std::size_t b = 0; b < lanes.n; ++b)
        S::backward(g[b], x[b], k, out[b], gx[b]);
}

template <class Lanes, class S, class Step>
void backward_nary(const Lanes& lanes, const Step& s, const Memory& m) {
    const std::uint32_t* operands = m.args + s.x;
    const bool from_first = (s.flags & Node::fold_from_first) != 0;
    const double* g = m.grad + s.out * lanes.stride;
    const std::size_t stride = lanes.stride;
    auto lanes_of = [&](std::uint32_t v) { return m.data + v * stride; };
    auto grads_of = [&](std::uint32_t v) { return m.grad + v * stride; };
    if (from_first) {  // the start: d(start + ...)/d(start)
        const std::uint32_t v = operands[0];
        if (is_uniform(v)) {
            sum_over_lanes(lanes, m.uniform_grad[node_of(v)],
                           [&](std::size_t b, double& gx) { S::backward_start(g[b], gx); });
        } else {
            double* gx = grads_of(v);
            for (std::size_t b = 0; b < lanes.n; ++b)
                S::backward_start(g[b], gx[b]);
        }
    }
    for (std::size_t i = from_first; i + S::group <= s.y; i += S::group) {
        if constexpr (S::group == 1) {
            const std::uint32_t v = operands[i];
            if (is_uniform(v)) {
                sum_over_lanes(lanes, m.uniform_grad[node_of(v)],
                               [&](std::size_t b, double& gx) { S::backward_step(g[b], gx); });
            } else {
                double* gx = grads_of(v);
                for (std::size_t b = 0; b < lanes.n; ++b)
                    S::backward_step(g[b], gx[b]);
            }
        } else {
            const std::uint32_t u = operands[i], v = operands[i + 1];
            if (is_uniform(u) && is_uniform(v)) {
                const double x = m.uniform[node_of(u)], y = m.uniform[node_of(v)];
                double& gx = m.uniform_grad[node_of(u)];
                double gy = 0.0;  // apart: u and v may be one node
                sum_over_lanes(lanes, gx, [&](std::size_t b, double& part) {
                    double unused_y = 0.0;
                    S::backward_step(g[b], x, y, part, unused_y);
                });
                sum_over_lanes(lanes, gy, [&](std::size_t b, double& part) {
                    double unused_x = 0.0;
                    S::backward_step(g[b], x, y, unused_x, part);
                });
                m.uniform_grad[node_of(v)] += gy;
            } else if (is_uniform(u)) {
                const double x = m.uniform[node_of(u)];
                const double* y = lanes_of(v);
                double* gy = grads_of(v);
                sum_over_lanes(lanes, m.uniform_grad[node_of(u)],
                               [&](std::size_t b, double& gx) { S::backward_step(g[b], x, y[b], gx, gy[b]); });
            } else if (is_uniform(v)) {
                const double* x = lanes_of(u);
                double* gx = grads_of(u);
                const double y = m.uniform[node_of(v)];
                sum_over_lanes(lanes, m.uniform_grad[node_of(v)],
                               [&](std::size_t b, double& gy) { S::backward_step(g[b], x[b], y, gx[b], gy); });
            } else {
                const double* x = lanes_of(u);
                const double* y = lanes_of(v);
                double* gx = grads_of(u);
                double* gy = grads_of(v);
                for (std::size_t b = 0; b < lanes.n; ++b)
                    S::backward_step(g[b], x[b], y[b], gx[b], gy[b]);
            }
        }
    }
}

template <class Lanes, class Step>
void forward_step(const Lanes& lanes, const Step& s, const Memory& m) {
    switch (s.op) {
        case Op::leaf: return;
#define MICROGRAD_FORWARD(id, Struct, arity, ...) \
    case Op::id: forward_##arity<Lanes, ops::Struct>(lanes, s, m); return;
            MICROGRAD_OPS(MICROGRAD_FORWARD)
#undef MICROGRAD_FORWARD
    }
}

template <class Lanes, class Step>
void backward_step(const Lanes& lanes, const Step& s, const Memory& m) {
    switch (s.op) {
        case Op::leaf: return;
#define MICROGRAD_BACKWARD(id, Struct, arity, ...) \
    case Op::id: backward_##arity<Lanes, ops::Struct>(lanes, s, m); return;
            MICROGRAD_OPS(MICROGRAD_BACKWARD)
#undef MICROGRAD_BACKWARD
    }
}

// The replay on the nodes knows which node comes next: it asks for the node
// `Distance` steps ahead (its nodes are scattered by the allocator). Near for a
// graph that fits in the last-level cache, far enough to cover a miss to memory
// (at ~1-2 ns per node) for one that does not. Measured (bench_graph.py and
// the moons graph of 1,500 rows): fwd + bwd per node on 1M nodes went 9.4 ->
// 4.2 ns (moons) and 5.4 -> 4.0 ns (a chain) from 16 to 128 ahead (256: no
// better, 512: worse), while the 65,381-node moons graph is ~6% slower at 128
// than at 16 (lines fetched too early evict the weights).
constexpr std::size_t near_distance = 16;
constexpr std::size_t far_distance = 128;
constexpr std::size_t far_from_nodes = std::size_t(1) << 18;  // ~12 MiB of nodes

// Tape::codes_, per step of the replay on the nodes.
constexpr std::uint8_t zero_lhs = 1;     // backward: lhs's gradient is 0 before this step's contribution
constexpr std::uint8_t zero_rhs = 2;     // rhs's
constexpr std::uint8_t zero_listed = 4;  // n-ary: those in zero_operands_
constexpr std::uint8_t run_start = 8;    // the first and the last step of a run (forward_run)
constexpr std::uint8_t run_end = 16;
constexpr std::uint8_t sum_run = 32;          // the run is a neuron's sum (forward_run), else
constexpr std::uint8_t independent_run = 64;  // steps of one binary op reading no node of the run
inline void prefetch(const Node* node) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(node);  // a node may straddle two cache lines: both
    __builtin_prefetch(reinterpret_cast<const char*>(node) + sizeof(Node) - 1);
#else
    (void)node;
#endif
}

// The last two values the replay on the nodes wrote (data forward, gradients
// backward), by node. A step reads its operands here first: a node's value is
// mostly read by the next step or the one after (a chain, a neuron's running
// sum and its products), and a value kept in a register does not wait for the
// store and the load that would carry it through memory (a chain of stores and
// loads is latency-bound, ~3 ns per node). The stores still happen, so memory
// is always current: this only saves the wait. Values are bit for bit those
// read from memory. A read of an unknown pointer stays a branch (the compiler
// may not load through it unconditionally), so the load is skipped.
class Recent {
public:
    MICROGRAD_ALWAYS_INLINE double data(const Node* p) const {
        if (p == n1_) return v1_;
        if (p == n2_) return v2_;
        return p->data;
    }
    MICROGRAD_ALWAYS_INLINE double grad(const Node* p) const {
        if (p == n1_) return v1_;
        if (p == n2_) return v2_;
        return p->grad;
    }
    MICROGRAD_ALWAYS_INLINE void wrote(const Node* p, double v) {
        n2_ = n1_;
        v2_ = v1_;
        n1_ = p;
        v1_ = v;
    }
    void forget() { n1_ = n2_ = nullptr; }

private:
    const Node* n1_ = nullptr;
    const Node* n2_ = nullptr;
    double v1_ = 0.0, v2_ = 0.0;
};

// One node's forward, its operands read through `recent`: ops::forward(node)
// with the same op structs.
MICROGRAD_ALWAYS_INLINE double forward_node(const Node& n, const Recent& recent) {
    switch (n.op) {
        case Op::leaf: return n.data;
#define MICROGRAD_NODE_FORWARD_unary(Struct) return ops::Struct::forward(recent.data(n.lhs))
#define MICROGRAD_NODE_FORWARD_binary(Struct) return ops::Struct::forward(recent.data(n.lhs), recent.data(n.rhs))
#define MICROGRAD_NODE_FORWARD_scalar(Struct) return ops::Struct::forward(recent.data(n.lhs), n.exponent)
#define MICROGRAD_NODE_FORWARD_nary(Struct) return ops::forward(n)
#define MICROGRAD_NODE_FORWARD(id, Struct, arity, ...) \
    case Op::id: MICROGRAD_NODE_FORWARD_##arity(Struct);
            MICROGRAD_OPS(MICROGRAD_NODE_FORWARD)
#undef MICROGRAD_NODE_FORWARD
#undef MICROGRAD_NODE_FORWARD_unary
#undef MICROGRAD_NODE_FORWARD_binary
#undef MICROGRAD_NODE_FORWARD_scalar
#undef MICROGRAD_NODE_FORWARD_nary
    }
    return n.data;
}

// One node's backward: ops::backward(node) with its gradient and its operands'
// read through `recent`, an operand flagged in `zero` (1: lhs, 2: rhs) taken as
// 0 (its first contribution). The n-ary ops read and write memory.
template <class S>
MICROGRAD_ALWAYS_INLINE void backward_unary_node(const Node& n, std::uint8_t zero, Recent& recent) {
    const double g = recent.grad(&n);
    double gx = (zero & 1) ? 0.0 : recent.grad(n.lhs);
    S::backward(g, n.lhs->data, n.data, gx);
    n.lhs->grad = gx;
    recent.wrote(n.lhs, gx);
}
template <class S>
MICROGRAD_ALWAYS_INLINE void backward_scalar_node(const Node& n, std::uint8_t zero, Recent& recent) {
    const double g = recent.grad(&n);
    double gx = (zero & 1) ? 0.0 : recent.grad(n.lhs);
    S::backward(g, n.lhs->data, n.exponent, n.data, gx);
    n.lhs->grad = gx;
    recent.wrote(n.lhs, gx);
}
template <class S>
MICROGRAD_ALWAYS_INLINE void backward_binary_node(const Node& n, std::uint8_t zero, Recent& recent) {
    const double g = recent.grad(&n);
    if (n.lhs == n.rhs) {  // x op x: both contributions to one gradient, in order
        double gx = (zero & 1) ? 0.0 : recent.grad(n.lhs);
        S::backward(g, n.lhs->data, n.lhs->data, n.data, gx, gx);
        n.lhs->grad = gx;
        recent.wrote(n.lhs, gx);
        return;
    }
    double gx = (zero & 1) ? 0.0 : recent.grad(n.lhs);
    double gy = (zero & 2) ? 0.0 : recent.grad(n.rhs);
    S::backward(g, n.lhs->data, n.rhs->data, n.data, gx, gy);
    n.lhs->grad = gx;
    n.rhs->grad = gy;
    recent.wrote(n.lhs, gx);
    recent.wrote(n.rhs, gy);
}

MICROGRAD_ALWAYS_INLINE void backward_node(const Node& n, std::uint8_t zero, Recent& recent) {
    switch (n.op) {
        case Op::leaf: return;
#define MICROGRAD_NODE_BACKWARD_unary(Struct) backward_unary_node<ops::Struct>(n, zero, recent)
#define MICROGRAD_NODE_BACKWARD_binary(Struct) backward_binary_node<ops::Struct>(n, zero, recent)
#define MICROGRAD_NODE_BACKWARD_scalar(Struct) backward_scalar_node<ops::Struct>(n, zero, recent)
#define MICROGRAD_NODE_BACKWARD_nary(Struct) \
    ops::backward(n);                        \
    recent.forget()
#define MICROGRAD_NODE_BACKWARD(id, Struct, arity, ...) \
    case Op::id: MICROGRAD_NODE_BACKWARD_##arity(Struct); return;
            MICROGRAD_OPS(MICROGRAD_NODE_BACKWARD)
#undef MICROGRAD_NODE_BACKWARD
#undef MICROGRAD_NODE_BACKWARD_unary
#undef MICROGRAD_NODE_BACKWARD_binary
#undef MICROGRAD_NODE_BACKWARD_scalar
#undef MICROGRAD_NODE_BACKWARD_nary
    }
}

// A run of a neuron's sum (Tape's constructor): adds, each the left operand of
// the next, the sum carried in a register. The same op struct, in the same
// order, as one step per node: bit for bit the same values. `ahead`: how many
// nodes after the run's first may be prefetched.
template <std::size_t Distance>
void forward_run(Node* const* p, std::size_t count, std::size_t ahead, Recent& recent) {
    double sum = recent.data(p[0]->lhs);
    for (std::size_t i = 0; i < count; ++i) {
        if (i < ahead) prefetch(p[i + Distance]);
        Node& add = *p[i];
        sum = ops::Add::forward(sum, recent.data(add.rhs));  // a term may be one of the last two nodes
        add.data = sum;
    }
    recent.wrote(p[count - 1], sum);
}

// The run backward, from its last add: each add's whole gradient is the
// running one (its other consumers come after the run and are done, and no
// term is an add of the run), passed on to its left operand. The run is
// order[start ...], `zero` the steps' codes.
template <std::size_t Distance>
void backward_run(Node* const* order, std::size_t start, const std::uint8_t* zero, std::size_t count, Recent& recent) {
    Node* const* p = order + start;
    zero += start;
    double g = recent.grad(p[count - 1]);
    for (std::size_t i = count; i-- > 0;) {
        if (start + i >= Distance) prefetch(order[start + i - Distance]);
        const Node& add = *p[i];
        double g_left = (zero[i] & zero_lhs) ? 0.0 : add.lhs->grad;
        double g_term = (zero[i] & zero_rhs) ? 0.0 : add.rhs->grad;
        ops::Add::backward(g, add.lhs->data, add.rhs->data, add.data, g_left, g_term);
        add.lhs->grad = g_left;
        add.rhs->grad = g_term;
        g = g_left;
    }
    recent.forget();
}

// A run of steps of one binary op that read no node of their run: one
// dispatch, then each step as backward_binary_node would, through memory (which
// the run's stores keep current; `recent` is not needed for what the run reads
// and is forgotten after it).
template <std::size_t Distance, class S>
void forward_independent_loop(Node* const* p, std::size_t count, std::size_t ahead) {
    for (std::size_t i = 0; i < count; ++i) {
        if (i < ahead) prefetch(p[i + Distance]);
        Node& node = *p[i];
        node.data = S::forward(node.lhs->data, node.rhs->data);
    }
}
template <std::size_t Distance>
void forward_independent(Node* const* p, std::size_t count, std::size_t ahead, Recent& recent) {
    switch (p[0]->op) {
#define MICROGRAD_INDEPENDENT_unary(Struct)
#define MICROGRAD_INDEPENDENT_scalar(Struct)
#define MICROGRAD_INDEPENDENT_nary(Struct)
#define MICROGRAD_INDEPENDENT_binary(Struct)                          \
    forward_independent_loop<Distance, ops::Struct>(p, count, ahead); \
    break;
#define MICROGRAD_INDEPENDENT(id, Struct, arity, ...) \
    case Op::id: MICROGRAD_INDEPENDENT_##arity(Struct) break;
        MICROGRAD_OPS(MICROGRAD_INDEPENDENT)
#undef MICROGRAD_INDEPENDENT
#undef MICROGRAD_INDEPENDENT_binary
        default: break;
    }
    recent.wrote(p[count - 2], p[count - 2]->data);
    recent.wrote(p[count - 1], p[count - 1]->data);
}

template <std::size_t Distance, class S>
void backward_independent_loop(Node* const* order, std::size_t start, const std::uint8_t* zero, std::size_t count) {
    for (std::size_t i = count; i-- > 0;) {
        if (start + i >= Distance) prefetch(order[start + i - Distance]);
        const Node& n = *order[start + i];
        const std::uint8_t z = zero[start + i];
        const double g = n.grad;
        if (n.lhs == n.rhs) {
            double gx = (z & zero_lhs) ? 0.0 : n.lhs->grad;
            S::backward(g, n.lhs->data, n.lhs->data, n.data, gx, gx);
            n.lhs->grad = gx;
            continue;
        }
        double gx = (z & zero_lhs) ? 0.0 : n.lhs->grad;
        double gy = (z & zero_rhs) ? 0.0 : n.rhs->grad;
        S::backward(g, n.lhs->data, n.rhs->data, n.data, gx, gy);
        n.lhs->grad = gx;
        n.rhs->grad = gy;
    }
}
template <std::size_t Distance>
void backward_independent(Node* const* order, std::size_t start, const std::uint8_t* zero, std::size_t count,
                          Recent& recent) {
    switch (order[start]->op) {
#define MICROGRAD_INDEPENDENT_binary(Struct)                                     \
    backward_independent_loop<Distance, ops::Struct>(order, start, zero, count); \
    break;
#define MICROGRAD_INDEPENDENT(id, Struct, arity, ...) \
    case Op::id: MICROGRAD_INDEPENDENT_##arity(Struct) break;
        MICROGRAD_OPS(MICROGRAD_INDEPENDENT)
#undef MICROGRAD_INDEPENDENT
#undef MICROGRAD_INDEPENDENT_unary
#undef MICROGRAD_INDEPENDENT_binary
#undef MICROGRAD_INDEPENDENT_scalar
#undef MICROGRAD_INDEPENDENT_nary
        default: break;
    }
    recent.forget();
}

// The replay on the nodes (Tape::forward, Tape::backward): the frozen order,
// `code` per step (its runs, and backward's zeroing), `run` the runs' lengths.
template <std::size_t Distance>
void replay_forward(Node* const* order, const std::uint8_t* code, const std::uint32_t* run, std::size_t n) {
    Recent recent;
    for (std::size_t k = 0; k < n; ++k) {
        if (k + Distance < n) prefetch(order[k + Distance]);
        if (code[k] & run_start) {
            const std::size_t count = *run++;
            const std::size_t ahead = k + Distance < n ? n - k - Distance : 0;
            if (code[k] & sum_run)
                forward_run<Distance>(order + k, count, ahead, recent);
            else
                forward_independent<Distance>(order + k, count, ahead, recent);
            k += count - 1;
            continue;
        }
        Node& node = *order[k];
        const double value = forward_node(node, recent);
        node.data = value;
        recent.wrote(&node, value);
    }
}

// Backward over order[0 .. n), the first output's graph, its gradient already
// 1 and its leaves' 0. `run` and `zero_operand`: one past the last of theirs.
template <std::size_t Distance>
void replay_backward(Node* const* order, const std::uint8_t* code, const std::uint32_t* run, Node* const* zero_operand,
                     std::size_t n) {
    Recent recent;
    for (std::size_t k = n; k-- > 0;) {
        if (k >= Distance) prefetch(order[k - Distance]);
        const std::uint8_t flags = code[k];
        if (flags & run_end) {
            const std::size_t count = *--run;
            k -= count - 1;
            if (flags & sum_run)
                backward_run<Distance>(order, k, code, count, recent);
            else
                backward_independent<Distance>(order, k, code, count, recent);
            continue;
        }
        if (flags & zero_listed)
            while (Node* operand = *--zero_operand)  // down to its group's null
                operand->grad = 0.0;
        backward_node(*order[k], flags, recent);
    }
}

// Lane buffers hold about this many bytes (data and gradients): a chunk of
// rows small enough to stay in cache, large enough for the loops to pay. Up to
// 128 rows a chunk (bench_graph.py, moons step over 100 rows: 64 -> 128 lanes
// took it from 0.109x to 0.099x PyTorch; 256 was no better).
constexpr std::size_t chunk_bytes = std::size_t(1) << 20;
constexpr std::size_t max_lanes = 128;

}  // namespace

Tape::Tape(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs) {
    if (outputs.empty()) throw std::invalid_argument("a graph needs at least one output");
    nodes_ = topological_order(outputs.data(), outputs.size());
    const std::size_t n = nodes_.size();
    if (n >= uniform_bit) throw std::invalid_argument("a graph of more than 2**31 - 1 nodes");

    // Each node's operands as node indices (CSR). The index of a node is kept in
    // its own grad slot while they are read (its grad saved and put back, with
    // no allocation in between): no hash table for 10 million nodes.
    std::vector<std::size_t> first_operand(n + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t count = 0;
        nodes_[i]->for_each_child([&count](Node*) { ++count; });
        first_operand[i + 1] = first_operand[i] + count;
    }
    std::vector<std::uint32_t> operands(first_operand[n]);
    std::vector<double> saved(n);
    std::vector<std::uint32_t> input_index(inputs.size(), none);
    outputs_.reserve(outputs.size());
    for (std::size_t i = 0; i < n; ++i) {
        saved[i] = nodes_[i]->grad;
        nodes_[i]->grad = double(i);  // exact: i < 2**32
        nodes_[i]->set(Node::visited, true);
    }
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t k = first_operand[i];
        nodes_[i]->for_each_child([&](Node* child) { operands[k++] = std::uint32_t(child->grad); });
    }
    for (std::size_t k = 0; k < inputs.size(); ++k)
        if (inputs[k]->test(Node::visited)) input_index[k] = std::uint32_t(inputs[k]->grad);
    for (Node* output : outputs)
        outputs_.push_back(std::uint32_t(output->grad));
    for (std::size_t i = 0; i < n; ++i) {
        nodes_[i]->grad = saved[i];
        nodes_[i]->set(Node::visited, false);
    }
    std::vector<double>().swap(saved);

    first_graph_ = std::size_t(outputs_[0]) + 1;  // the walk emits the first output's graph first, itself last

    varies_.assign(n, 0);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        const std::uint32_t i = input_index[k];
        if (i == none) throw std::invalid_argument("input " + std::to_string(k) + " is not a node of the graph");
        if (!nodes_[i]->is_leaf()) {
            throw std::invalid_argument("input " + std::to_string(k) + " is not a leaf (it was made by an op)");
        }
        if (varies_[i]) throw std::invalid_argument("input " + std::to_string(k) + " is given twice");
        varies_[i] = 1;
        inputs_.push_back(i);
    }

    // The replay on the nodes: the order, split into leaves and the rest.
    for (std::size_t i = 0; i < n; ++i) {
        if (nodes_[i]->is_leaf()) {
            leaves_.push_back(std::uint32_t(i));
            if (i < first_graph_) {
                ++first_leaves_;
                if (!varies_[i]) parameters_.push_back(std::uint32_t(i));
            }
        } else {
            interior_.push_back(nodes_[i]);
            if (i < first_graph_) ++first_interior_;
        }
    }
    saved_grads_.resize(first_leaves_);

    // Each interior node's last consumer below the first output: the first step
    // of backward() to add to its gradient, which zeroes it first.
    codes_.assign(interior_.size(), 0);
    {
        std::vector<std::uint32_t> last(first_graph_, none);
        for (std::size_t i = 0; i < first_graph_; ++i)
            for (std::size_t k = first_operand[i]; k < first_operand[i + 1]; ++k)
                last[operands[k]] = std::uint32_t(i);
        for (std::size_t i = 0, step = 0; i < first_graph_; ++i) {
            if (nodes_[i]->is_leaf()) continue;
            std::uint8_t flags = 0;
            const bool nary = arity(nodes_[i]->op) == Arity::nary;
            if (nary) zero_operands_.push_back(nullptr);
            for (std::size_t k = first_operand[i]; k < first_operand[i + 1]; ++k) {
                const std::uint32_t j = operands[k];
                if (nodes_[j]->is_leaf() || last[j] != i) continue;
                last[j] = none;  // once, if the node uses it twice
                if (nary) {
                    flags = zero_listed;
                    zero_operands_.push_back(nodes_[j]);
                } else {
                    flags = std::uint8_t(flags | (k == first_operand[i] ? zero_lhs : zero_rhs));
                }
            }
            if (nary && flags == 0) zero_operands_.pop_back();
            codes_[step++] = flags;
        }
    }

    // Runs of a neuron's sum, (((s + p1) + p2) + ...): adds in a row in the
    // order (the walk emits the terms first), each the left operand of the
    // next. The replay runs them in one loop, the sum in a register. A term may
    // not be an add of its own run (so that the running gradient is each add's
    // whole gradient), and a run stays on one side of the first output's graph
    // (backward runs only that side).
    {
        std::vector<std::uint32_t> index;  // node index of each interior step
        index.reserve(interior_.size());
        for (std::size_t i = 0; i < n; ++i)
            if (!nodes_[i]->is_leaf()) index.push_back(std::uint32_t(i));
        auto lhs = [&](std::uint32_t i) { return operands[first_operand[i]]; };
        auto rhs = [&](std::uint32_t i) { return operands[first_operand[i] + 1]; };
        auto starts = [&](std::size_t k) {  // a run may start at step k
            const std::uint32_t i = index[k];
            return nodes_[i]->op == Op::add && lhs(i) != rhs(i);
        };
        auto continues = [&](std::size_t k, std::size_t start) {  // step k continues the run from start
            if (k >= index.size() || (k < first_interior_) != (start < first_interior_)) return false;
            const std::uint32_t i = index[k], previous = index[k - 1];
            if (nodes_[i]->op != Op::add || lhs(i) != previous) return false;
            const std::uint32_t term = rhs(i);  // not an add of this run: those are index[start .. k)
            return !(
                term >= index[start] && term < i &&
                std::binary_search(index.begin() + std::ptrdiff_t(start), index.begin() + std::ptrdiff_t(k), term));
        };
        // Else runs of one binary op whose steps read no node of their own run
        // (a layer's products): one dispatch for the run, each step reading memory.
        auto independent = [&](std::size_t k, std::size_t start) {
            if (k >= index.size() || (k < first_interior_) != (start < first_interior_)) return false;
            const std::uint32_t i = index[k];
            if (nodes_[i]->op != nodes_[index[start]]->op) return false;
            for (std::size_t a = first_operand[i]; a < first_operand[i + 1]; ++a)
                if (operands[a] >= index[start] && std::binary_search(index.begin() + std::ptrdiff_t(start),
                                                                      index.begin() + std::ptrdiff_t(k), operands[a]))
                    return false;
            return true;
        };
        for (std::size_t k = 0; k < index.size();) {
            std::size_t end = k + 1;
            std::uint8_t kind = 0;
            if (starts(k)) {
                while (continues(end, k))
                    ++end;
                kind = sum_run;
            }
            if (end - k < 2 && arity(nodes_[index[k]]->op) == Arity::binary) {
                end = k + 1;
                while (independent(end, k))
                    ++end;
                kind = independent_run;
            }
            if (end - k >= 2) {
                codes_[k] = std::uint8_t(codes_[k] | run_start | kind);
                codes_[end - 1] = std::uint8_t(codes_[end - 1] | run_end | kind);
                runs_.push_back(std::uint32_t(end - k));
                if (k < first_interior_) first_runs_ = runs_.size();
            }
            k = end;
        }
    }

    // The batch: what varies per row, the lane slots, the two programs.
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = first_operand[i]; k < first_operand[i + 1]; ++k)
            varies_[i] = std::uint8_t(varies_[i] | varies_[operands[k]]);
    std::vector<std::uint32_t> identity(n);  // the uniform steps work on node indices
    for (std::size_t i = 0; i < n; ++i)
        identity[i] = std::uint32_t(i);
    for (std::size_t i = 0; i < n; ++i) {
        if (nodes_[i]->is_leaf() || varies_[i]) continue;
        uniform_.steps.push_back(
            step_for(nodes_[i], std::uint32_t(i), operands.data() + first_operand[i], identity, uniform_));
        if (i < first_graph_) first_uniform_steps_ = uniform_.steps.size();
    }

    // The varying steps, first over node indices. Chains of + whose terms are
    // products, each node used once (micrograd's neurons, `sum` of a list), are
    // fused into one n-ary step (ops::Dot or ops::Sum from a start): their
    // inner nodes need no lanes, the values are those of the chain bit for bit.
    std::vector<std::uint32_t> uses(n, 0);
    for (std::uint32_t operand : operands)
        ++uses[operand];
    for (std::uint32_t output : outputs_)
        uses[output] += 2;  // the outputs' values are read: never fused away
    std::vector<std::uint8_t> fused(n, 0);
    auto fusable = [&](std::uint32_t i, Op op) { return varies_[i] && nodes_[i]->op == op && uses[i] == 1; };
    auto operand = [&](std::uint32_t i, std::size_t k) { return operands[first_operand[i] + k]; };
    Program proto;
    std::vector<std::uint32_t> chain_adds, chain_terms;
    auto emit_chain = [&](std::uint32_t top) {
        chain_adds.clear();
        chain_terms.clear();
        std::uint32_t cur = top;
        for (;;) {  // down the left operands: ((start + t0) + t1) + ...
            chain_adds.push_back(cur);
            chain_terms.push_back(operand(cur, 1));
            const std::uint32_t left = operand(cur, 0);
            if (!fusable(left, Op::add)) break;
            cur = left;
        }
        std::reverse(chain_adds.begin(), chain_adds.end());
        std::reverse(chain_terms.begin(), chain_terms.end());
        std::uint32_t start = operand(chain_adds.front(), 0);
        for (std::size_t j = 0; j < chain_terms.size();) {  // runs of products, runs of other terms
            const bool products = fusable(chain_terms[j], Op::mul);
            std::size_t end = j;
            while (end < chain_terms.size() && fusable(chain_terms[end], Op::mul) == products)
                ++end;
            const std::uint32_t out = chain_adds[end - 1];
            if (!products && end - j == 1) {  // one term: the add itself
                proto.steps.push_back(Step{Op::add, 0, out, start, chain_terms[j]});
            } else {
                Step step{products ? Op::dot : Op::sum, Node::fold_from_first, out, std::uint32_t(proto.args.size()),
                          0};
                proto.args.push_back(start);
                for (std::size_t k = j; k < end; ++k) {
                    if (products) {
                        fused[chain_terms[k]] = 1;
                        proto.args.push_back(operand(chain_terms[k], 0));
                        proto.args.push_back(operand(chain_terms[k], 1));
                    } else {
                        proto.args.push_back(chain_terms[k]);
                    }
                }
                step.y = std::uint32_t(proto.args.size() - step.x);
                proto.steps.push_back(step);
            }
            for (std::size_t k = j; k + 1 < end; ++k)
                fused[chain_adds[k]] = 1;  // inside a run: computed by the fused step only
            start = out;
            j = end;
        }
    };
    std::vector<std::uint8_t> chain_top(n, 0);
    for (std::size_t i = n; i-- > 0;) {  // from the outputs down, so that a chain is found from its top
        if (!varies_[i] || nodes_[i]->op != Op::add || chain_top[i] == 2) continue;
        chain_top[i] = 1;
        for (std::uint32_t cur = std::uint32_t(i); fusable(operand(cur, 0), Op::add);) {
            cur = operand(cur, 0);
            chain_top[cur] = 2;  // inside a chain
        }
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (nodes_[i]->is_leaf() || !varies_[i] || chain_top[i] == 2) continue;
        if (chain_top[i] == 1) {
            emit_chain(std::uint32_t(i));
        } else {
            proto.steps.push_back(
                step_for(nodes_[i], std::uint32_t(i), operands.data() + first_operand[i], identity, proto));
        }
    }
    // Emitting a chain's steps at its top keeps topological order; a product
    // fused into a chain is emitted nowhere else.
    std::vector<Step> kept;
    kept.reserve(proto.steps.size());
    for (const Step& step : proto.steps) {
        if (fused[step.out]) continue;
        kept.push_back(step);
        if (step.out < first_graph_) first_lane_steps_ = kept.size();  // those below the first output come first
    }
    proto.steps.swap(kept);

    // Lane slots: one per varying node a step writes (and per input). A uniform
    // operand is read as one value (uniform_bit and its node index).
    slot_.assign(n, none);
    for (std::uint32_t i : inputs_)
        slot_[i] = std::uint32_t(slots_++);
    for (const Step& step : proto.steps)
        slot_[step.out] = std::uint32_t(slots_++);
    auto place = [&](std::uint32_t i) { return varies_[i] ? slot_[i] : (uniform_bit | i); };
    for (Step step : proto.steps) {
        switch (arity(step.op)) {
            case Arity::leaf: break;
            case Arity::unary:
            case Arity::scalar: step.x = place(step.x); break;
            case Arity::binary:
                step.x = place(step.x);
                step.y = place(step.y);
                break;
            case Arity::nary: {
                const std::uint32_t first = std::uint32_t(lanes_.args.size());
                for (std::uint32_t k = 0; k < step.y; ++k)
                    lanes_.args.push_back(place(proto.args[step.x + k]));
                step.x = first;
                break;
            }
        }
        step.out = slot_[step.out];
        lanes_.steps.push_back(step);
    }

    data_.assign(n, 0.0);
    grad_.assign(n, 0.0);
    std::size_t retained = 0;  // last: nothing above may throw with the references taken
    try {
        for (; retained < outputs.size(); ++retained)
            retain(outputs[retained]);
    } catch (...) {
        while (retained > 0)
            release(outputs[--retained]);  // never the last reference: the caller holds each
        throw;
    }
}

Tape::~Tape() {
    for (std::uint32_t output : outputs_)
        release(nodes_[output]);
}

// The step computing node (whose operands have node indices `operands`) into
// place[out], its operands read from place[operand].
Tape::Step Tape::step_for(const Node* node, std::uint32_t out, const std::uint32_t* operands,
                          const std::vector<std::uint32_t>& place, Program& program) {
    Step s{node->op, std::uint8_t(node->flags & Node::fold_from_first), out, 0, 0};
    switch (arity(node->op)) {
        case Arity::leaf: break;
        case Arity::unary: s.x = place[operands[0]]; break;
        case Arity::binary:
            s.x = place[operands[0]];
            s.y = place[operands[1]];
            break;
        case Arity::scalar:
            s.x = place[operands[0]];
            s.y = std::uint32_t(constants_.size());
            constants_.push_back(node->exponent);
            break;
        case Arity::nary:
            s.x = std::uint32_t(program.args.size());
            s.y = std::uint32_t(node->count);
            for (std::size_t k = 0; k < node->count; ++k)
                program.args.push_back(place[operands[k]]);
            break;
    }
    return s;
}

std::size_t Tape::memory_bytes() const {
    auto bytes = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
    const Program* programs[] = {&lanes_, &uniform_};
    std::size_t total = bytes(nodes_) + bytes(interior_) + bytes(saved_grads_) + bytes(codes_) + bytes(runs_) +
                        bytes(zero_operands_) + bytes(outputs_) + bytes(inputs_) + bytes(leaves_) + bytes(constants_) +
                        bytes(varies_) + bytes(slot_) + bytes(parameters_) + bytes(data_) + bytes(grad_) +
                        bytes(lane_data_) + bytes(lane_grad_);
    for (const Program* p : programs)
        total += bytes(p->steps) + bytes(p->args);
    return total;
}

// --- replay on the nodes --------------------------------------------------------

// On the nodes themselves: no copy of their data to gather or scatter, and the
// order micrograd::backward would walk, frozen (so gradients are bit for bit
// those of Value.backward(), and no walk, no marks).
double Tape::forward() {
    if (interior_.size() > far_from_nodes)
        replay_forward<far_distance>(interior_.data(), codes_.data(), runs_.data(), interior_.size());
    else
        replay_forward<near_distance>(interior_.data(), codes_.data(), runs_.data(), interior_.size());
    return nodes_[outputs_[0]]->data;
}

void Tape::backward() {
    Node* const* leaves = nodes_.data();
    double* saved = saved_grads_.data();
    for (std::size_t k = 0; k < first_leaves_; ++k) {  // each call's contributions summed apart, added once
        Node* leaf = leaves[leaves_[k]];
        saved[k] = leaf->grad;
        leaf->grad = 0.0;
    }
    nodes_[outputs_[0]]->grad = 1.0;  // the others are zeroed before their first contribution
    Node* const* zero_end = zero_operands_.data() + zero_operands_.size();
    if (interior_.size() > far_from_nodes)
        replay_backward<far_distance>(interior_.data(), codes_.data(), runs_.data() + first_runs_, zero_end,
                                      first_interior_);
    else
        replay_backward<near_distance>(interior_.data(), codes_.data(), runs_.data() + first_runs_, zero_end,
                                       first_interior_);
    for (std::size_t k = 0; k < first_leaves_; ++k) {
        Node* leaf = leaves[leaves_[k]];
        leaf->grad = saved[k] + leaf->grad;
    }
}

// --- the batch ------------------------------------------------------------------

bool Tape::differentiable() const { return !parameters_.empty(); }

void Tape::load_leaves() {
    for (std::uint32_t leaf : leaves_)
        if (!varies_[leaf]) data_[leaf] = nodes_[leaf]->data;
}

void Tape::run(const double* rows, std::size_t count, double* out, bool backward, Reduction reduction) {
    const One one;
    double* data = data_.data();
    double* grad = grad_.data();
    const Memory uniform{data, grad, data, grad, uniform_.args.data(), constants_.data()};
    for (const Step& s : uniform_.steps)  // what does not vary: once
        forward_step(one, s, uniform);
    if (backward) std::fill(grad_.begin(), grad_.end(), 0.0);  // the lane steps add the uniform operands' gradients

    // Chunks of rows, one lane each, as many as fit in chunk_bytes.
    const std::size_t per_lane = 2 * sizeof(double) * (slots_ ? slots_ : 1);
    const std::size_t width = std::max<std::size_t>(1, std::min({count, max_lanes, chunk_bytes / per_lane}));
    if (width > stride_ || lane_data_.size() < slots_ * width) {
        std::vector<double> more_data(slots_ * width), more_grad(slots_ * width);  // may throw: nothing changed yet
        lane_data_.swap(more_data);
        lane_grad_.swap(more_grad);
        stride_ = width;
    }
    const std::size_t stride = stride_;
    double* lane_data = lane_data_.data();
    double* lane_grad = lane_grad_.data();
    const Memory lanes_memory{lane_data, lane_grad, data, grad, lanes_.args.data(), constants_.data()};
    const double seed = reduction == Reduction::mean ? 1.0 / double(count) : 1.0;
    const std::uint32_t first = outputs_[0];
    const std::size_t n_in = inputs_.size(), n_out = outputs_.size();

    // A chunk of rows; the steps' loops run over `lanes` (One: a single row, the
    // loops gone, as the replay on the nodes).
    auto chunk = [&](std::size_t row, const auto& lanes) {
        for (std::size_t k = 0; k < n_in; ++k) {  // the rows, transposed into the inputs' lanes
            double* lane = lane_data + slot_[inputs_[k]] * stride;
            for (std::size_t b = 0; b < lanes.n; ++b)
                lane[b] = rows[(row + b) * n_in + k];
        }
        for (const Step& s : lanes_.steps)
            forward_step(lanes, s, lanes_memory);
        for (std::size_t j = 0; j < n_out; ++j) {
            const std::uint32_t o = outputs_[j];
            for (std::size_t b = 0; b < lanes.n; ++b)
                out[(row + b) * n_out + j] = varies_[o] ? lane_data[slot_[o] * stride + b] : data[o];
        }
        if (!backward) return;
        std::fill_n(lane_grad, slots_ * stride, 0.0);
        if (varies_[first]) std::fill_n(lane_grad + slot_[first] * stride, lanes.n, seed);
        // Only the steps below the first output: another output's step would pass on a zero
        // gradient, and 0 * inf is nan.
        for (std::size_t k = first_lane_steps_; k-- > 0;)
            backward_step(lanes, lanes_.steps[k], lanes_memory);
    };
    for (std::size_t row = 0; row < count; row += stride) {
        if (stride == 1)
            chunk(row, One{});
        else
            chunk(row, Many{stride, std::min(stride, count - row)});
    }
    if (!backward) return;

    // The uniform nodes' gradients: what the lane steps added, then the uniform steps once.
    if (!varies_[first]) grad[first] += seed * double(count);
    for (std::size_t k = first_uniform_steps_; k-- > 0;)
        backward_step(one, uniform_.steps[k], uniform);
}

void Tape::store_gradients() {
    for (std::uint32_t leaf : parameters_) {
        Node* node = nodes_[leaf];
        node->grad = node->grad + grad_[leaf];
    }
}

}  // namespace micrograd
