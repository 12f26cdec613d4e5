#include "micrograd/graph.hpp"

#include <memory>
#include <stdexcept>
#include <string>

#include "micrograd/interrupt.hpp"
#include "micrograd/label.hpp"
#include "micrograd/ops.hpp"

namespace micrograd {

Node* make_pow_const(Node* x, double k, bool integer_exponent) {
    Node* out = new_node(Op::pow_const, 0.0, x, nullptr);
    out->exponent = k;
    out->set(Node::integer_exponent, integer_exponent);
    out->data = ops::forward(*out);
    return out;
}

Node* make_nary(Op op, Node* const* operands, std::size_t count, bool from_first) {
    Node* out = new_nary_node(op, operands, count);
    out->set(Node::fold_from_first, from_first);
    out->data = ops::forward(*out);
    return out;
}

Node* make_local_grads(double data, Node* const* operands, const double* locals, std::size_t count) {
    Node* out = new_nary_node(Op::local_grads, operands, count, locals);
    out->data = data;
    return out;
}

Node* make_custom(double data, Node* const* operands, std::size_t count) {
    Node* out = new_nary_node(Op::custom, operands, count);
    out->data = data;
    return out;
}

namespace {

CustomBackward custom_hook = nullptr;
// Whether this thread is running a custom backward (then the walks' shared state is in use by
// the walk that called it). A thread's own flag: another thread may walk meanwhile, with state of
// its own (Lease).
thread_local bool in_custom_backward = false;

}  // namespace

void set_custom_backward(CustomBackward hook) noexcept { custom_hook = hook; }

void refuse_custom_op(const Node& node) {
    const std::string& given = op_name(&node);
    const std::string shown = given.empty() ? std::string(ops::name(node.op)) : given;
    if (node.op == Op::custom)
        throw custom_op_refused("Graph: the graph has a node of the custom op '" + shown +
                                "' whose backward is Python code (its _backward): a Graph cannot replay it; call "
                                "backward() on it instead");
    throw custom_op_refused("Graph: the graph has a node of local gradients (op '" + shown +
                            "', Value(data, children, local_grads)): its data and local derivatives are numbers "
                            "given when it was made, so a Graph cannot recompute them at new inputs; build the "
                            "graph from built-in ops, or call backward() on it");
}

void ops::custom_backward(const Node& node) {
    if (!custom_hook) return;
    struct Flag {
        Flag() { in_custom_backward = true; }
        ~Flag() { in_custom_backward = false; }
    } running;
    custom_hook(node);
}

namespace {

// Scratch space of the walks, kept between calls so that a training loop
// does not pay for allocating (and page-faulting) it on every backward.
// Callers serialise (see node.hpp). Oversized buffers are dropped after use.
struct Scratch {
    std::vector<Node*> stack;
    std::vector<Node*> order;
    std::vector<Node*> leaves;                                 // the leaves among order, collected by the walk
    std::vector<double> before;                                // backward: their gradients before the call
    static constexpr std::size_t keep = std::size_t(1) << 20;  // 8 MiB each (16 for leaves)
    void trim_walk() {  // what a walk used, and the backward pass after it: not the leaves
        if (stack.capacity() > keep) std::vector<Node*>().swap(stack);
        if (order.capacity() > keep) std::vector<Node*>().swap(order);
    }
    void trim() {
        trim_walk();
        if (leaves.capacity() > keep) std::vector<Node*>().swap(leaves);
        if (before.capacity() > keep) std::vector<double>().swap(before);
    }
};
// The scratch space of one walk: the shared one, or (for a walk that starts while another is
// paused in a custom backward on another thread) one of its own. A walk entered again from a
// custom backward it runs is refused: the walk it would re-enter uses the shared state.
class Lease {
public:
    Lease() {
        if (in_custom_backward)
            throw std::logic_error(
                "a graph cannot be walked (backward, zero_grad, a topological order) from inside a custom op's "
                "backward: it runs while backward() walks its graph");
        static auto* shared = new Scratch();  // never destroyed: graphs may be walked at interpreter exit
        if (!shared_in_use) {
            shared_in_use = true;
            buffers_ = shared;
        } else {
            own_.reset(new Scratch());
            buffers_ = own_.get();
        }
    }
    ~Lease() {
        if (!own_) shared_in_use = false;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Scratch& buffers() { return *buffers_; }

private:
    static bool shared_in_use;
    Scratch* buffers_;
    std::unique_ptr<Scratch> own_;
};
bool Lease::shared_in_use = false;

void unmark(Node* node) { node->flags = std::uint8_t(node->flags & ~(Node::visited | Node::emitted)); }

// Iterative depth-first search that appends to `order` every node reachable
// from the roots, operands first (the first root's graph first). Two marks:
// `visited` once a node's operands are pushed, `emitted` once it is in order
// (set only after the push succeeded, so that a failed walk can find every mark
// it made in stack and order). The leaves go to `leaves` too. Polls for an
// interrupt now and then: the caller's clean-up of a failure undoes the marks.
void depth_first(Node* const* roots, std::size_t count, std::vector<Node*>& stack, std::vector<Node*>& order,
                 std::vector<Node*>& leaves) {
    for (std::size_t r = count; r-- > 0;)
        stack.push_back(roots[r]);
    for (unsigned long until_poll = interrupt_interval; !stack.empty();) {
        if (--until_poll == 0) {
            poll_interrupt();
            until_poll = interrupt_interval;
        }
        Node* node = stack.back();
        if (node->test(Node::emitted)) {  // reached twice through shared subexpressions
            stack.pop_back();
            continue;
        }
        if (node->test(Node::visited)) {  // back on top: all its operands are emitted
            order.push_back(node);
            node->set(Node::emitted, true);
            if (node->is_leaf()) leaves.push_back(node);  // a root that is a leaf
            stack.pop_back();
            continue;
        }
        node->set(Node::visited, true);
        node->for_each_child([&](Node* child) {
            if (child->test(Node::emitted)) return;
            if (child->is_leaf()) {  // nothing below it: emit at once
                order.push_back(child);
                child->set(Node::emitted, true);
                leaves.push_back(child);
            } else {
                stack.push_back(child);
            }
        });
    }
}

// Every node reachable from the roots into buffers.order, operands first. On
// success every node in order is still marked: the caller's first pass over
// order must unmark() each, and unmark_all() them if it fails before. On
// failure (out of memory, an interrupt) no node is left marked.
void sort_into(Node* const* roots, std::size_t count, Scratch& buffers) {
    buffers.stack.clear();
    buffers.order.clear();
    try {
        buffers.leaves.clear();
        depth_first(roots, count, buffers.stack, buffers.order, buffers.leaves);
    } catch (...) {
        for (Node* node : buffers.stack)  // visited, not yet emitted (or roots not reached yet)
            unmark(node);
        for (Node* node : buffers.order)
            unmark(node);
        for (std::size_t r = 0; r < count; ++r)
            unmark(roots[r]);
        buffers.trim();
        throw;
    }
}

void sort_into(Node* root, Scratch& buffers) { sort_into(&root, 1, buffers); }

void unmark_all(Scratch& buffers) {
    for (Node* node : buffers.order)
        unmark(node);
    buffers.trim();
}

}  // namespace

std::vector<Node*> topological_order(Node* root) { return topological_order(&root, 1); }

std::vector<Node*> topological_order(Node* const* roots, std::size_t count) {
    Lease lease;
    Scratch& buffers = lease.buffers();
    sort_into(roots, count, buffers);
    std::vector<Node*> order;
    try {
        order = buffers.order;
    } catch (...) {
        unmark_all(buffers);
        throw;
    }
    unmark_all(buffers);
    return order;
}

void backward(Node* root) {
    Lease lease;
    Scratch& buffers = lease.buffers();
    sort_into(root, buffers);
    // Everything that can fail (allocation) happens before the first gradient changes.
    try {
        buffers.before.resize(buffers.leaves.size());
    } catch (...) {
        unmark_all(buffers);
        throw;
    }
    double* before = buffers.before.data();
    for (Node* leaf : buffers.leaves)
        *before++ = leaf->grad;
    for (Node* node : buffers.order) {
        unmark(node);
        node->grad = 0.0;
    }
    root->grad = 1.0;
    try {
        Node* const* order = buffers.order.data();
        const bool long_call = buffers.order.size() > interrupt_interval;
        for (std::size_t end = buffers.order.size(); end > 0;) {
            const std::size_t begin = end > interrupt_interval ? end - interrupt_interval : 0;
            for (std::size_t k = end; k-- > begin;)
                ops::backward(*order[k]);
            end = begin;
            if (end > 0) poll_interrupt();
        }
        // After the last chunk too: a Ctrl-C that came during the call stops it before any gradient
        // lands. The walk's buffers are freed first (16 MB for 2M nodes: a millisecond), so that
        // little is left after this poll: a Ctrl-C then finds the call returned, its gradients added.
        buffers.trim_walk();
        if (long_call) poll_interrupt();
    } catch (...) {  // interrupted, or a custom backward threw: no gradient lands, the leaves get back what they held
        before = buffers.before.data();
        for (Node* leaf : buffers.leaves)
            leaf->grad = *before++;
        buffers.trim();
        throw;
    }
    // This call's contributions to each leaf are summed; add them to what it held, once.
    before = buffers.before.data();
    for (Node* leaf : buffers.leaves)
        leaf->grad = *before++ + leaf->grad;
    buffers.trim();
}

void zero_grad(Node* root) {
    Lease lease;
    Scratch& buffers = lease.buffers();
    sort_into(root, buffers);
    for (Node* node : buffers.order) {
        unmark(node);
        node->grad = 0.0;
    }
    buffers.trim();
}

}  // namespace micrograd
