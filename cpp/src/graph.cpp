#include "micrograd/graph.hpp"

#include <utility>

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

namespace {

// Scratch space of the walks, kept between calls so that a training loop
// does not pay for allocating (and page-faulting) it on every backward.
// Callers serialise (see node.hpp). Oversized buffers are dropped after use.
struct Scratch {
    std::vector<Node*> stack;
    std::vector<Node*> order;
    std::vector<std::pair<Node*, double>> leaves;  // backward: each leaf and its gradient before the call
    std::size_t leaf_count = 0;                    // leaves in order, counted by the walk
    void trim() {
        constexpr std::size_t keep = std::size_t(1) << 20;  // 8 MiB each (16 for leaves)
        if (stack.capacity() > keep) std::vector<Node*>().swap(stack);
        if (order.capacity() > keep) std::vector<Node*>().swap(order);
        if (leaves.capacity() > keep) std::vector<std::pair<Node*, double>>().swap(leaves);
    }
};
Scratch& scratch() {
    static auto* buffers = new Scratch();  // never destroyed: graphs may be walked at interpreter exit
    return *buffers;
}

void unmark(Node* node) { node->flags = std::uint8_t(node->flags & ~(Node::visited | Node::emitted)); }

// Iterative depth-first search that appends to `order` every node reachable
// from the roots, operands first (the first root's graph first). Two marks:
// `visited` once a node's operands are pushed, `emitted` once it is in order
// (set only after the push succeeded, so that a failed walk can find every mark
// it made in stack and order). Returns the number of leaves.
std::size_t depth_first(Node* const* roots, std::size_t count, std::vector<Node*>& stack, std::vector<Node*>& order) {
    std::size_t leaves = 0;
    for (std::size_t r = count; r-- > 0;)
        stack.push_back(roots[r]);
    while (!stack.empty()) {
        Node* node = stack.back();
        if (node->test(Node::emitted)) {  // reached twice through shared subexpressions
            stack.pop_back();
            continue;
        }
        if (node->test(Node::visited)) {  // back on top: all its operands are emitted
            order.push_back(node);
            node->set(Node::emitted, true);
            leaves += node->is_leaf();  // a root that is a leaf
            stack.pop_back();
            continue;
        }
        node->set(Node::visited, true);
        node->for_each_child([&](Node* child) {
            if (child->test(Node::emitted)) return;
            if (child->is_leaf()) {  // nothing below it: emit at once
                order.push_back(child);
                child->set(Node::emitted, true);
                ++leaves;
            } else {
                stack.push_back(child);
            }
        });
    }
    return leaves;
}

// Every node reachable from the roots into buffers.order, operands first. On
// success every node in order is still marked: the caller's first pass over
// order must unmark() each, and unmark_all() them if it fails before. On
// failure (out of memory) no node is left marked.
void sort_into(Node* const* roots, std::size_t count, Scratch& buffers) {
    buffers.stack.clear();
    buffers.order.clear();
    try {
        buffers.leaf_count = depth_first(roots, count, buffers.stack, buffers.order);
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
    Scratch& buffers = scratch();
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
    Scratch& buffers = scratch();
    sort_into(root, buffers);
    // Everything that can fail (allocation) happens before the first gradient changes.
    try {
        buffers.leaves.clear();
        buffers.leaves.reserve(buffers.leaf_count);
    } catch (...) {
        unmark_all(buffers);
        throw;
    }
    for (Node* node : buffers.order) {
        unmark(node);
        if (node->is_leaf()) buffers.leaves.emplace_back(node, node->grad);
        node->grad = 0.0;
    }
    root->grad = 1.0;
    for (auto it = buffers.order.rbegin(); it != buffers.order.rend(); ++it)
        ops::backward(**it);
    // This call's contributions to each leaf are summed; add them to what it held, once.
    for (auto& [leaf, before] : buffers.leaves)
        leaf->grad = before + leaf->grad;
    buffers.trim();
}

void zero_grad(Node* root) {
    Scratch& buffers = scratch();
    sort_into(root, buffers);
    for (Node* node : buffers.order) {
        unmark(node);
        node->grad = 0.0;
    }
    buffers.trim();
}

}  // namespace micrograd
