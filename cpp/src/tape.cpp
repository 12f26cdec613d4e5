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

// The kernel: one step over n lanes, value v of lane b at base[v * stride + b].
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

template <class Lanes, class S, class Step>
void forward_unary(const Lanes& lanes, const Step& s, double* data) {
    double* __restrict out = data + s.out * lanes.stride;
    const double* x = data + s.x * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        out[b] = S::forward(x[b]);
}

template <class Lanes, class S, class Step>
void forward_binary(const Lanes& lanes, const Step& s, double* data) {
    double* __restrict out = data + s.out * lanes.stride;
    const double* x = data + s.x * lanes.stride;
    const double* y = data + s.y * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        out[b] = S::forward(x[b], y[b]);
}

template <class Lanes, class S, class Step>
void forward_scalar(const Lanes& lanes, const Step& s, double* data, const double* constants) {
    double* __restrict out = data + s.out * lanes.stride;
    const double* x = data + s.x * lanes.stride;
    const double k = constants[s.y];
    for (std::size_t b = 0; b < lanes.n; ++b)
        out[b] = S::forward(x[b], k);
}

// Eight lanes at a time (a lane type of constant width), so that an n-ary
// fold keeps its running sums in registers through all its operands.
struct Eight {
    static constexpr std::size_t n = 8;
};

template <class Lanes, class S, class Step>
void forward_nary(const Lanes& lanes, const Step& s, double* data, const std::uint32_t* args) {
    const std::uint32_t* operands = args + s.x;
    const bool from_first = (s.flags & Node::fold_from_first) != 0;
    std::size_t b0 = 0;
    if constexpr (!std::is_same_v<Lanes, One>) {
        for (; b0 + Eight::n <= lanes.n; b0 += Eight::n) {
            double sums[Eight::n];  // a local: nothing else can write it, so it stays in registers
            S::fold(Eight{}, sums, s.y, from_first,
                    [&](std::size_t i) -> const double* { return data + operands[i] * lanes.stride + b0; });
            std::copy(sums, sums + Eight::n, data + s.out * lanes.stride + b0);
        }
    }
    if (b0 == lanes.n) return;
    const Many rest{lanes.stride, lanes.n - b0};
    S::fold(rest, data + s.out * lanes.stride + b0, s.y, from_first,
            [&](std::size_t i) -> const double* { return data + operands[i] * lanes.stride + b0; });
}

template <class Lanes, class S, class Step>
void backward_unary(const Lanes& lanes, const Step& s, const double* data, double* grad) {
    const double* out = data + s.out * lanes.stride;
    const double* g = grad + s.out * lanes.stride;
    const double* x = data + s.x * lanes.stride;
    double* gx = grad + s.x * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        S::backward(g[b], x[b], out[b], gx[b]);
}

template <class Lanes, class S, class Step>
void backward_binary(const Lanes& lanes, const Step& s, const double* data, double* grad) {
    const double* out = data + s.out * lanes.stride;
    const double* g = grad + s.out * lanes.stride;
    const double* x = data + s.x * lanes.stride;
    const double* y = data + s.y * lanes.stride;
    double* gx = grad + s.x * lanes.stride;
    double* gy = grad + s.y * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        S::backward(g[b], x[b], y[b], out[b], gx[b], gy[b]);
}

template <class Lanes, class S, class Step>
void backward_scalar(const Lanes& lanes, const Step& s, const double* data, double* grad, const double* constants) {
    const double* out = data + s.out * lanes.stride;
    const double* g = grad + s.out * lanes.stride;
    const double* x = data + s.x * lanes.stride;
    double* gx = grad + s.x * lanes.stride;
    const double k = constants[s.y];
    for (std::size_t b = 0; b < lanes.n; ++b)
        S::backward(g[b], x[b], k, out[b], gx[b]);
}

template <class Lanes, class S, class Step>
void backward_nary(const Lanes& lanes, const Step& s, const double* data, double* grad, const std::uint32_t* args) {
    const std::uint32_t* operands = args + s.x;
    S::backward(
        lanes, grad + s.out * lanes.stride, s.y, (s.flags & Node::fold_from_first) != 0,
        [&](std::size_t i) { return data + operands[i] * lanes.stride; },
        [&](std::size_t i) { return grad + operands[i] * lanes.stride; });
}

template <class Lanes, class Step>
void forward_step(const Lanes& lanes, const Step& s, double* data, const std::uint32_t* args, const double* constants) {
    switch (s.op) {
        case Op::leaf: return;
#define MICROGRAD_FORWARD_unary(id, Struct) forward_unary<Lanes, ops::Struct>(lanes, s, data)
#define MICROGRAD_FORWARD_binary(id, Struct) forward_binary<Lanes, ops::Struct>(lanes, s, data)
#define MICROGRAD_FORWARD_scalar(id, Struct) forward_scalar<Lanes, ops::Struct>(lanes, s, data, constants)
#define MICROGRAD_FORWARD_nary(id, Struct) forward_nary<Lanes, ops::Struct>(lanes, s, data, args)
#define MICROGRAD_FORWARD(id, Struct, arity, ...) \
    case Op::id: MICROGRAD_FORWARD_##arity(id, Struct); return;
            MICROGRAD_OPS(MICROGRAD_FORWARD)
#undef MICROGRAD_FORWARD
#undef MICROGRAD_FORWARD_unary
#undef MICROGRAD_FORWARD_binary
#undef MICROGRAD_FORWARD_scalar
#undef MICROGRAD_FORWARD_nary
    }
}

template <class Lanes, class Step>
void backward_step(const Lanes& lanes, const Step& s, const double* data, double* grad, const std::uint32_t* args,
                   const double* constants) {
    switch (s.op) {
        case Op::leaf: return;
#define MICROGRAD_BACKWARD_unary(id, Struct) backward_unary<Lanes, ops::Struct>(lanes, s, data, grad)
#define MICROGRAD_BACKWARD_binary(id, Struct) backward_binary<Lanes, ops::Struct>(lanes, s, data, grad)
#define MICROGRAD_BACKWARD_scalar(id, Struct) backward_scalar<Lanes, ops::Struct>(lanes, s, data, grad, constants)
#define MICROGRAD_BACKWARD_nary(id, Struct) backward_nary<Lanes, ops::Struct>(lanes, s, data, grad, args)
#define MICROGRAD_BACKWARD(id, Struct, arity, ...) \
    case Op::id: MICROGRAD_BACKWARD_##arity(id, Struct); return;
            MICROGRAD_OPS(MICROGRAD_BACKWARD)
#undef MICROGRAD_BACKWARD
#undef MICROGRAD_BACKWARD_unary
#undef MICROGRAD_BACKWARD_binary
#undef MICROGRAD_BACKWARD_scalar
#undef MICROGRAD_BACKWARD_nary
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
// rows small enough to stay in cache, large enough for the loops to pay.
constexpr std::size_t chunk_bytes = std::size_t(1) << 20;
constexpr std::size_t max_lanes = 64;

}  // namespace

Tape::Tape(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs) {
    if (outputs.empty()) throw std::invalid_argument("a graph needs at least one output");
    nodes_ = topological_order(outputs.data(), outputs.size());
    const std::size_t n = nodes_.size();
    if (n >= none) throw std::invalid_argument("a graph of more than 2**32 - 2 nodes");

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

    // Lane slots: one per varying node a step writes (and per input), then a
    // broadcast slot per uniform node a step reads.
    slot_.assign(n, none);
    for (std::uint32_t i : inputs_)
        slot_[i] = std::uint32_t(slots_++);
    for (const Step& step : proto.steps)
        slot_[step.out] = std::uint32_t(slots_++);
    varying_slots_ = slots_;
    auto place = [&](std::uint32_t i) {
        if (slot_[i] == none) {
            slot_[i] = std::uint32_t(slots_++);
            broadcast_.push_back(i);
        }
        return slot_[i];
    };
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
                        bytes(varies_) + bytes(slot_) + bytes(broadcast_) + bytes(parameters_) + bytes(data_) +
                        bytes(grad_) + bytes(lane_data_) + bytes(lane_grad_);
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
    for (const Step& s : uniform_.steps)  // what does not vary: once
        forward_step(one, s, data, uniform_.args.data(), constants_.data());

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
    for (std::uint32_t i : broadcast_) {
        std::fill_n(lane_data + slot_[i] * stride, stride, data[i]);
        std::fill_n(lane_grad + slot_[i] * stride, stride, 0.0);
    }
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
            forward_step(lanes, s, lane_data, lanes_.args.data(), constants_.data());
        for (std::size_t j = 0; j < n_out; ++j) {
            const std::uint32_t o = outputs_[j];
            for (std::size_t b = 0; b < lanes.n; ++b)
                out[(row + b) * n_out + j] = varies_[o] ? lane_data[slot_[o] * stride + b] : data[o];
        }
        if (!backward) return;
        std::fill_n(lane_grad, varying_slots_ * stride, 0.0);  // broadcast slots accumulate over chunks
        if (varies_[first]) std::fill_n(lane_grad + slot_[first] * stride, lanes.n, seed);
        // Only the steps below the first output: another output's step would pass on a zero
        // gradient, and 0 * inf is nan.
        for (std::size_t k = first_lane_steps_; k-- > 0;)
            backward_step(lanes, lanes_.steps[k], lane_data, lane_grad, lanes_.args.data(), constants_.data());
    };
    for (std::size_t row = 0; row < count; row += stride) {
        if (stride == 1)
            chunk(row, One{});
        else
            chunk(row, Many{stride, std::min(stride, count - row)});
    }
    if (!backward) return;

    // The uniform nodes' gradients: their lanes summed, then the uniform steps once.
    std::fill(grad_.begin(), grad_.end(), 0.0);
    for (std::uint32_t i : broadcast_) {  // four running sums, not one: a chain of adds waits on each add
        const double* lane = lane_grad + slot_[i] * stride;
        double partial[4] = {0.0, 0.0, 0.0, 0.0};
        std::size_t b = 0;
        for (; b + 4 <= stride; b += 4)
            for (std::size_t k = 0; k < 4; ++k)
                partial[k] += lane[b + k];
        for (; b < stride; ++b)
            partial[b % 4] += lane[b];
        grad[i] = (partial[0] + partial[1]) + (partial[2] + partial[3]);
    }
    if (!varies_[first]) grad[first] += seed * double(count);
    for (std::size_t k = first_uniform_steps_; k-- > 0;)
        backward_step(one, uniform_.steps[k], data, grad, uniform_.args.data(), constants_.data());
}

void Tape::store_gradients() {
    for (std::uint32_t leaf : parameters_) {
        Node* node = nodes_[leaf];
        node->grad = node->grad + grad_[leaf];
    }
}

}  // namespace micrograd
