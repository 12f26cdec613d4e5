// The replay of a Tape on the graph's own nodes: Tape::forward and
// Tape::backward, over the order frozen at capture (tape.cpp).
#include <cstddef>
#include <cstdint>

#include "micrograd/ops.hpp"
#include "micrograd/tape.hpp"
#include "tape_internal.hpp"

namespace micrograd {
namespace {

using namespace tape_detail;

// The replay on the nodes keeps values in registers across steps (Recent,
// below): that holds only if the step functions are inlined into its loop.
#if defined(__GNUC__) || defined(__clang__)
#define MICROGRAD_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define MICROGRAD_ALWAYS_INLINE __forceinline
#else
#define MICROGRAD_ALWAYS_INLINE inline
#endif

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

// Reads and writes through memory alone, as Recent's interface: for the runs
// whose steps read nothing their run wrote.
struct Direct {
    static double grad(const Node* p) { return p->grad; }
    static void wrote(const Node*, double) {}
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
// read through `recent` (a Recent, or Direct), an operand flagged in `zero`
// (zero_lhs, zero_rhs) taken as 0 (its first contribution). The n-ary ops read
// and write memory.
template <class S>
MICROGRAD_ALWAYS_INLINE void backward_unary_node(const Node& n, std::uint8_t zero, Recent& recent) {
    const double g = recent.grad(&n);
    double gx = (zero & zero_lhs) ? 0.0 : recent.grad(n.lhs);
    S::backward(g, n.lhs->data, n.data, gx);
    n.lhs->grad = gx;
    recent.wrote(n.lhs, gx);
}
template <class S>
MICROGRAD_ALWAYS_INLINE void backward_scalar_node(const Node& n, std::uint8_t zero, Recent& recent) {
    const double g = recent.grad(&n);
    double gx = (zero & zero_lhs) ? 0.0 : recent.grad(n.lhs);
    S::backward(g, n.lhs->data, n.exponent, n.data, gx);
    n.lhs->grad = gx;
    recent.wrote(n.lhs, gx);
}
template <class S, class Reader>
MICROGRAD_ALWAYS_INLINE void backward_binary_node(const Node& n, std::uint8_t zero, Reader& recent) {
    const double g = recent.grad(&n);
    if (n.lhs == n.rhs) {  // x op x: both contributions to one gradient, in order
        double gx = (zero & zero_lhs) ? 0.0 : recent.grad(n.lhs);
        S::backward(g, n.lhs->data, n.lhs->data, n.data, gx, gx);
        n.lhs->grad = gx;
        recent.wrote(n.lhs, gx);
        return;
    }
    double gx = (zero & zero_lhs) ? 0.0 : recent.grad(n.lhs);
    double gy = (zero & zero_rhs) ? 0.0 : recent.grad(n.rhs);
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

// Calls f with the op struct of a binary op (a value of it: f(ops::Mul{})).
template <class F>
void with_binary_op(Op op, F&& f) {
    switch (op) {
#define MICROGRAD_BINARY_unary(Struct)
#define MICROGRAD_BINARY_scalar(Struct)
#define MICROGRAD_BINARY_nary(Struct)
#define MICROGRAD_BINARY_binary(Struct) f(ops::Struct{});
#define MICROGRAD_BINARY(id, Struct, arity, ...) \
    case Op::id: MICROGRAD_BINARY_##arity(Struct) return;
        MICROGRAD_OPS(MICROGRAD_BINARY)
#undef MICROGRAD_BINARY
#undef MICROGRAD_BINARY_unary
#undef MICROGRAD_BINARY_scalar
#undef MICROGRAD_BINARY_nary
#undef MICROGRAD_BINARY_binary
        case Op::leaf: return;
    }
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
    with_binary_op(p[0]->op, [&](auto op) { forward_independent_loop<Distance, decltype(op)>(p, count, ahead); });
    recent.wrote(p[count - 2], p[count - 2]->data);
    recent.wrote(p[count - 1], p[count - 1]->data);
}

template <std::size_t Distance, class S>
void backward_independent_loop(Node* const* order, std::size_t start, const std::uint8_t* zero, std::size_t count) {
    for (std::size_t i = count; i-- > 0;) {
        if (start + i >= Distance) prefetch(order[start + i - Distance]);
        Direct direct;
        backward_binary_node<S>(*order[start + i], zero[start + i], direct);
    }
}
template <std::size_t Distance>
void backward_independent(Node* const* order, std::size_t start, const std::uint8_t* zero, std::size_t count,
                          Recent& recent) {
    with_binary_op(order[start]->op,
                   [&](auto op) { backward_independent_loop<Distance, decltype(op)>(order, start, zero, count); });
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

}  // namespace

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

}  // namespace micrograd
