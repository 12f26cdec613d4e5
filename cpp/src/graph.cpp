#include "micrograd/graph.hpp"

namespace micrograd {

Node* make_pow_const(Node* x, double k, bool integer_exponent) {
    Node* out = new_node(Op::pow_const, 0.0, x, nullptr);
    out->exponent = k;
    out->set(Node::integer_exponent, integer_exponent);
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
    void trim() {
        constexpr std::size_t keep = std::size_t(1) << 20;  // 8 MiB each
        if (stack.capacity() > keep) std::vector<Node*>().swap(stack);
        if (order.capacity() > keep) std::vector<Node*>().swap(order);
    }
};
Scratch& scratch() {
    static auto* buffers = new Scratch();  // never destroyed: graphs may be walked at interpreter exit
    return *buffers;
}

// Iterative depth-first search that appends to `order` every node reachable
// from root, operands first. Two marks: `visited` once a node's operands are
// pushed, `emitted` once it is in order. Nodes stay marked: call unmark().
void depth_first(Node* root, std::vector<Node*>& stack, std::vector<Node*>& order) {
    stack.clear();
    stack.push_back(root);
    while (!stack.empty()) {
        Node* node = stack.back();
        if (node->test(Node::emitted)) {  // reached twice through shared subexpressions
            stack.pop_back();
            continue;
        }
        if (node->test(Node::visited)) {  // back on top: all its operands are emitted
            stack.pop_back();
            node->set(Node::emitted, true);
            order.push_back(node);
            continue;
        }
        node->set(Node::visited, true);
        node->for_each_child([&](Node* child) {
            if (child->test(Node::emitted)) return;
            if (child->is_leaf()) {  // nothing below it: emit at once
                child->set(Node::emitted, true);
                order.push_back(child);
            } else {
                stack.push_back(child);
            }
        });
    }
}

void unmark(Node* node) { node->flags = std::uint8_t(node->flags & ~(Node::visited | Node::emitted)); }

// Runs depth_first; on failure (out of memory) leaves no node marked.
void sorted_into(Node* root, Scratch& buffers) {
    buffers.order.clear();
    try {
        depth_first(root, buffers.stack, buffers.order);
    } catch (...) {
        for (Node* node : buffers.stack)
            unmark(node);
        for (Node* node : buffers.order)
            unmark(node);
        unmark(root);
        throw;
    }
}

}  // namespace

std::vector<Node*> topological_order(Node* root) {
    Scratch& buffers = scratch();
    sorted_into(root, buffers);
    for (Node* node : buffers.order)
        unmark(node);
    std::vector<Node*> order(buffers.order);
    buffers.trim();
    return order;
}

void backward(Node* root) {
    Scratch& buffers = scratch();
    sorted_into(root, buffers);
    for (Node* node : buffers.order) {
        unmark(node);
        if (!node->is_leaf()) node->grad = 0.0;
    }
    root->grad += 1.0;
    for (auto it = buffers.order.rbegin(); it != buffers.order.rend(); ++it)
        ops::backward(**it);
    buffers.trim();
}

void zero_grad(Node* root) {
    Scratch& buffers = scratch();
    sorted_into(root, buffers);
    for (Node* node : buffers.order) {
        unmark(node);
        node->grad = 0.0;
    }
    buffers.trim();
}

}  // namespace micrograd
