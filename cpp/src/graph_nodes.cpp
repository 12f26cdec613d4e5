// The node replay of a Graph (graph_nodes.hpp): its plan, three passes over
// the capture, and the loops that run it on the nodes.
#include "graph_nodes.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "micrograd/interrupt.hpp"
#include "micrograd/ops.hpp"

namespace micrograd::graph_detail {
namespace {

// The codes of the plan, per interior node.
constexpr std::uint8_t zero_lhs = 1;     // backward: lhs's gradient is 0 before this node's contribution
constexpr std::uint8_t zero_rhs = 2;     // rhs's
constexpr std::uint8_t zero_listed = 4;  // n-ary: those in zero_operands_
constexpr std::uint8_t run_start = 8;    // the first and the last node of a run (forward_run)
constexpr std::uint8_t run_end = 16;
constexpr std::uint8_t sum_run = 32;          // the run is a neuron's sum (forward_run), else
constexpr std::uint8_t independent_run = 64;  // nodes of one binary op reading no node of the run
constexpr std::uint8_t fold_group = 128;      // forward: an n-ary node computed with others (find_fold_groups)

// The replay keeps values in registers across nodes (Recent, below): that holds only if the step functions are inlined
// into its loop.
#if defined(__GNUC__) || defined(__clang__)
#define MICROGRAD_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define MICROGRAD_ALWAYS_INLINE __forceinline
#else
#define MICROGRAD_ALWAYS_INLINE inline
#endif

// The replay knows which node comes next: it asks for the node `Distance`
// steps ahead (its nodes are scattered by the allocator). Near for a graph
// that fits in the last-level cache, far enough to cover a miss to memory (at
// ~1-2 ns per node) for one that does not: on a million nodes 128 ahead halves
// the time of 16 (256 is no better, 512 worse), while on the 65,381-node moons
// graph 128 is ~6% slower than 16 (lines fetched too early evict the weights).
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

// The last two values the replay wrote (data forward, gradients
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
        default: return n.data;  // the ops users define: refused by the capture
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
        default: return;  // the ops users define: refused by the capture
#undef MICROGRAD_NODE_BACKWARD
#undef MICROGRAD_NODE_BACKWARD_unary
#undef MICROGRAD_NODE_BACKWARD_binary
#undef MICROGRAD_NODE_BACKWARD_scalar
#undef MICROGRAD_NODE_BACKWARD_nary
    }
}

// A run of a neuron's sum (find_runs): adds, each the left operand of
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
        default: return;
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

// A group of G n-ary nodes of one op, as many operands each and the same
// start (find_fold_groups), forward: their folds side by side, each in its own
// order (so each node's value is bit for bit that of ops::forward), their
// running sums in G registers. One fold is a chain of dependent adds (its
// latency bounds it); G of them fill the time each add waits.
template <class S, std::size_t G>
void forward_fold_group(Node* const* group) {
    const std::size_t count = group[0]->count;
    const bool from_first = group[0]->test(Node::fold_from_first);
    Node* const* x[G];
    double acc[G];
    for (std::size_t j = 0; j < G; ++j) {
        x[j] = group[j]->operands;
        acc[j] = from_first ? x[j][0]->data : 0.0;
    }
    for (std::size_t i = from_first; i + S::group <= count; i += S::group) {
        for (std::size_t j = 0; j < G; ++j) {
            if constexpr (S::group == 1)
                acc[j] = S::step(acc[j], x[j][i]->data);
            else
                acc[j] = S::step(acc[j], x[j][i]->data, x[j][i + 1]->data);
        }
    }
    for (std::size_t j = 0; j < G; ++j)
        group[j]->data = acc[j];
}

template <class S>
void forward_fold_group(Node* const* group) {  // fold_group_size (4) slots, null after the last
    if (group[3])
        forward_fold_group<S, 4>(group);
    else if (group[2])
        forward_fold_group<S, 3>(group);
    else
        forward_fold_group<S, 2>(group);
}

// The replay (NodeReplay::forward, NodeReplay::backward): the frozen order,
// `code` per node (its runs, and backward's zeroing), `run` the runs' lengths.
// Both poll for an interrupt every interrupt_interval nodes, and after the last
// chunk of a longer call: a Ctrl-C that came during a call stops that call.
template <std::size_t Distance>
void replay_forward(Node* const* order, const std::uint8_t* code, const std::uint32_t* run, Node* const* group,
                    std::size_t n) {
    Recent recent;  // a group's values go through memory: no node written here is written again
    for (std::size_t k = 0; k < n;) {
        for (const std::size_t end = std::min(n, k + interrupt_interval); k < end; ++k) {
            if (k + Distance < n) prefetch(order[k + Distance]);
            if (code[k] & fold_group) {  // its group's first node runs the group; the others were run with it
                if (*group == order[k]) {
                    if (order[k]->op == Op::dot)
                        forward_fold_group<ops::Dot>(group);
                    else
                        forward_fold_group<ops::Sum>(group);
                    group += fold_group_size;
                }
                continue;
            }
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
        if (k < n || n > interrupt_interval) poll_interrupt();  // after the last chunk too: a call answers its Ctrl-C
    }
}

// Backward over order[0 .. n), the first output's graph, its gradient already
// 1 and its leaves' 0. `run` and `zero_operand`: one past the last of theirs.
template <std::size_t Distance>
void replay_backward(Node* const* order, const std::uint8_t* code, const std::uint32_t* run, Node* const* zero_operand,
                     std::size_t n) {
    Recent recent;
    for (std::size_t k = n; k > 0;) {
        const std::size_t end = k > interrupt_interval ? k - interrupt_interval : 0;
        while (k > end) {
            --k;
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
        if (k > 0 || n > interrupt_interval) poll_interrupt();  // after the last chunk too: before any gradient lands
    }
}

}  // namespace

NodeReplay::NodeReplay(const Capture& c) : first_output_(c.order[c.outputs[0]]) {
    split_leaves(c);
    plan_zeroing(c);
    find_runs(c);
    find_fold_groups(c);
}

// The order, split into the interior nodes and the leaves that backward() saves.
void NodeReplay::split_leaves(const Capture& c) {
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (c.is_leaf(i)) {
            if (i < c.first_graph) leaves_.push_back(c.order[i]);
        } else {
            interior_.push_back(c.order[i]);
            if (i < c.first_graph) ++first_interior_;
        }
    }
    saved_grads_.resize(leaves_.size());
    routed_.assign(leaves_.size(), 0);
    std::vector<std::uint32_t> leaf_of(c.first_graph, none);
    for (std::size_t i = 0, k = 0; i < c.first_graph; ++i)
        if (c.is_leaf(i)) leaf_of[i] = std::uint32_t(k++);
    input_leaf_.reserve(c.inputs.size());
    for (std::uint32_t i : c.inputs)
        input_leaf_.push_back(i < c.first_graph ? leaf_of[i] : none);
}

// Each interior node's last consumer below the first output: the first node of
// backward() to add to its gradient, which zeroes it first.
void NodeReplay::plan_zeroing(const Capture& c) {
    codes_.assign(interior_.size(), 0);
    std::vector<std::uint32_t> last(c.first_graph, none);
    for (std::size_t i = 0; i < c.first_graph; ++i)
        for (std::size_t k = 0; k < c.operand_count(i); ++k)
            last[c.operand(i, k)] = std::uint32_t(i);
    for (std::size_t i = 0, step = 0; i < c.first_graph; ++i) {
        if (c.is_leaf(i)) continue;
        std::uint8_t flags = 0;
        const bool nary = arity(c.node(i).op) == Arity::nary;
        if (nary) zero_operands_.push_back(nullptr);
        for (std::size_t k = 0; k < c.operand_count(i); ++k) {
            const std::uint32_t j = c.operand(i, k);
            if (c.is_leaf(j) || last[j] != i) continue;
            last[j] = none;  // once, if the node uses it twice
            if (nary) {
                flags = zero_listed;
                zero_operands_.push_back(c.order[j]);
            } else {
                flags = std::uint8_t(flags | (k == 0 ? zero_lhs : zero_rhs));
            }
        }
        if (nary && flags == 0) zero_operands_.pop_back();
        codes_[step++] = flags;
    }
}

// Runs of a neuron's sum, (((s + p1) + p2) + ...): adds in a row in the order
// (the walk emits the terms first), each the left operand of the next. The
// replay runs them in one loop, the sum in a register. A term may not be an add
// of its own run (so that the running gradient is each add's whole gradient),
// and a run stays on one side of the first output's graph (backward runs only
// that side). Else runs of one binary op whose nodes read no node of their own
// run (a layer's products): one dispatch for the run, each node reading memory.
void NodeReplay::find_runs(const Capture& c) {
    std::vector<std::uint32_t> index;  // node index of each interior node
    index.reserve(interior_.size());
    for (std::size_t i = 0; i < c.size(); ++i)
        if (!c.is_leaf(i)) index.push_back(std::uint32_t(i));
    auto lhs = [&](std::uint32_t i) { return c.operand(i, 0); };
    auto rhs = [&](std::uint32_t i) { return c.operand(i, 1); };
    auto op = [&](std::size_t k) { return c.node(index[k]).op; };
    auto starts_sum = [&](std::size_t k) { return op(k) == Op::add && lhs(index[k]) != rhs(index[k]); };
    // Node k may join the run from start: it exists and is on the same side of the first output.
    auto may_join = [&](std::size_t k, std::size_t start) {
        return k < index.size() && (k < first_interior_) == (start < first_interior_);
    };
    // An operand j of the node after the run's last is one of the run's nodes: every
    // interior node from the run's first on is (operands come before their node, and
    // the run holds every node in between).
    auto in_run = [&](std::uint32_t j, std::size_t start) { return j >= index[start] && !c.is_leaf(j); };
    auto continues_sum = [&](std::size_t k, std::size_t start) {
        return may_join(k, start) && op(k) == Op::add && lhs(index[k]) == index[k - 1] && !in_run(rhs(index[k]), start);
    };
    auto continues_independent = [&](std::size_t k, std::size_t start) {
        return may_join(k, start) && op(k) == op(start) && !in_run(lhs(index[k]), start) &&
               !in_run(rhs(index[k]), start);
    };
    for (std::size_t k = 0; k < index.size();) {
        std::size_t end = k + 1;
        std::uint8_t kind = 0;
        if (starts_sum(k)) {
            while (continues_sum(end, k))
                ++end;
            kind = sum_run;
        }
        if (end - k < 2 && arity(op(k)) == Arity::binary) {
            end = k + 1;
            while (continues_independent(end, k))
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

// Groups of n-ary nodes for forward: a dot (or sum) and up to fold_group_size - 1
// others of the same op, operand count and start, found among the next
// group_window interior nodes, whose operands are all computed before it (a
// layer's rows: dot, relu, dot, relu, ...). forward() computes them all when it
// reaches the first (their values do not depend on when) and skips the others;
// backward keeps the order. Each node is in one group at most.
void NodeReplay::find_fold_groups(const Capture& c) {
    constexpr std::size_t group_window = 32;
    const std::size_t n = interior_.size();
    std::vector<std::uint32_t> position(c.size(), none);  // of each interior node in interior_
    for (std::size_t i = 0, k = 0; i < c.size(); ++i)
        if (!c.is_leaf(i)) position[i] = std::uint32_t(k++);
    std::vector<std::int64_t> ready(n, -1);  // the last interior position among each node's operands
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (c.is_leaf(i)) continue;
        std::int64_t last = -1;
        for (std::size_t k = 0; k < c.operand_count(i); ++k) {
            const std::uint32_t j = c.operand(i, k);
            if (position[j] != none) last = std::max<std::int64_t>(last, position[j]);
        }
        ready[position[i]] = last;
    }
    auto foldable = [&](const Node& node) { return node.op == Op::dot || node.op == Op::sum; };
    auto alike = [](const Node& a, const Node& b) {
        return a.op == b.op && a.count == b.count && a.test(Node::fold_from_first) == b.test(Node::fold_from_first);
    };
    for (std::size_t k = 0; k < n; ++k) {
        const Node& leader = *interior_[k];
        if ((codes_[k] & fold_group) || !foldable(leader)) continue;
        std::size_t members[fold_group_size];
        std::size_t size = 1;
        members[0] = k;
        for (std::size_t m = k + 1; m < n && m <= k + group_window && size < fold_group_size; ++m) {
            if (!(codes_[m] & fold_group) && alike(leader, *interior_[m]) && ready[m] < std::int64_t(k))
                members[size++] = m;
        }
        if (size < 2) continue;
        for (std::size_t j = 0; j < fold_group_size; ++j) {
            groups_.push_back(j < size ? interior_[members[j]] : nullptr);
            if (j < size) codes_[members[j]] = std::uint8_t(codes_[members[j]] | fold_group);
        }
    }
    groups_.push_back(nullptr);  // past the last group: the replay compares its next leader with a node
}

// On the nodes themselves: no copy of their data to gather or scatter, and the
// order micrograd::backward would walk, frozen (so gradients are bit for bit
// those of Value::backward, and no walk, no marks).
void NodeReplay::forward() {
    if (interior_.size() > far_from_nodes)
        replay_forward<far_distance>(interior_.data(), codes_.data(), runs_.data(), groups_.data(), interior_.size());
    else
        replay_forward<near_distance>(interior_.data(), codes_.data(), runs_.data(), groups_.data(), interior_.size());
}

// +0.0 (not -0.0), the gradient zero_grad leaves.
inline bool positive_zero(double x) {
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return bits == 0;
}

void NodeReplay::backward(double* input_grads) {
    // Each call's contributions to a leaf are summed apart, from +0.0, and the sum added once. When
    // every leaf's gradient is +0.0 already (after a zero_grad), that sum is what adding it gives (a
    // sum from +0.0 is never -0.0, and +0.0 + s is s): the leaves are summed in place, without the
    // passes that save their gradients and add them back.
    bool from_zero = true;
    for (std::size_t k = 0; k < leaves_.size() && from_zero; ++k)
        from_zero = positive_zero(leaves_[k]->grad);
    double* saved = saved_grads_.data();
    if (!from_zero) {
        for (std::size_t k = 0; k < leaves_.size(); ++k) {
            saved[k] = leaves_[k]->grad;
            leaves_[k]->grad = 0.0;
        }
    }
    first_output_->grad = 1.0;  // the others are zeroed before their first contribution
    Node* const* zero_end = zero_operands_.data() + zero_operands_.size();
    try {
        if (interior_.size() > far_from_nodes)
            replay_backward<far_distance>(interior_.data(), codes_.data(), runs_.data() + first_runs_, zero_end,
                                          first_interior_);
        else
            replay_backward<near_distance>(interior_.data(), codes_.data(), runs_.data() + first_runs_, zero_end,
                                           first_interior_);
    } catch (const Interrupted&) {
        for (std::size_t k = 0; k < leaves_.size(); ++k)
            leaves_[k]->grad = from_zero ? 0.0 : saved[k];
        throw;
    }
    for (std::size_t k = 0; k < input_leaf_.size(); ++k)  // this call's sums, before they are added
        input_grads[k] = input_leaf_[k] == none ? 0.0 : leaves_[input_leaf_[k]]->grad;
    if (from_zero) {
        for (std::uint32_t leaf : input_leaf_)  // a routed input's own gradient stays as it was
            if (leaf != none && routed_[leaf]) leaves_[leaf]->grad = 0.0;
        return;
    }
    for (std::size_t k = 0; k < leaves_.size(); ++k)
        leaves_[k]->grad = routed_[k] ? saved[k] : saved[k] + leaves_[k]->grad;
}

std::size_t NodeReplay::bytes() const {
    auto bytes = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
    return bytes(interior_) + bytes(leaves_) + bytes(saved_grads_) + bytes(input_leaf_) + bytes(routed_) +
           bytes(codes_) + bytes(runs_) + bytes(zero_operands_) + bytes(groups_);
}

}  // namespace micrograd::graph_detail
