// Building a graph and differentiating it. All walks are iterative.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

#include "micrograd/node.hpp"
#include "micrograd/ops.hpp"

namespace micrograd {

// Each maker returns a new node holding one reference (the caller's) and
// retains its operands.
inline Node* make_leaf(double data) { return new_node(Op::leaf, data, nullptr, nullptr); }

inline Node* make_unary(Op op, Node* x) {
    Node* out = new_node(op, 0.0, x, nullptr);
    out->data = ops::forward(*out);
    return out;
}

inline Node* make_binary(Op op, Node* x, Node* y) {
    Node* out = new_node(op, 0.0, x, y);
    out->data = ops::forward(*out);
    return out;
}

// x ** k for a constant k; integer_exponent only records how k was written.
Node* make_pow_const(Node* x, double k, bool integer_exponent = false);

// An n-ary op (Op::dot, Op::sum) over operands[0 .. count), count >= 1. For
// Op::dot the operands are pairs a[0], b[0], a[1], b[1], ...; for Op::sum,
// from_first says the first operand is an explicit start (see ops::Sum).
Node* make_nary(Op op, Node* const* operands, std::size_t count, bool from_first = false);

// The nodes of the ops users define (op_table.hpp's MICROGRAD_USER_OPS), over
// operands[0 .. count), count >= 1, holding the data given. A local_grads node's
// backward adds g * locals[i] to the gradient of operands[i]; a custom node's is
// the caller's code, which the custom-backward hook runs.
Node* make_local_grads(double data, Node* const* operands, const double* locals, std::size_t count);
Node* make_custom(double data, Node* const* operands, std::size_t count);

// The custom-backward hook: runs a custom node's backward (it reads the node's grad
// and adds to its operands'), or throws to abort the walk that called it. Set once,
// by whoever makes custom nodes (the Python binding); with none, a custom node's
// backward does nothing. While it runs, the walks of this file cannot be entered
// again from the same thread (they throw std::logic_error): they share the state
// of the walk that called it.
using CustomBackward = void (*)(const Node& node);
void set_custom_backward(CustomBackward hook) noexcept;

// What a captured graph (graph_replay.hpp) throws for a node of a user's op: it cannot replay one. A
// custom node's backward is code; a local_grads node's data and derivatives were given as numbers,
// which a forward() at new inputs could not recompute. The binding makes it a TypeError.
class custom_op_refused : public std::logic_error {
public:
    using std::logic_error::logic_error;
};
[[noreturn]] void refuse_custom_op(const Node& node);

// Every node reachable from root, each once, operands before the nodes using
// them (root last). The walks of this file may be interrupted (interrupt.hpp):
// then they leave no mark and change nothing.
std::vector<Node*> topological_order(Node* root);
// The same for several roots: every node reachable from any, each once.
std::vector<Node*> topological_order(Node* const* roots, std::size_t count);

// Sets each node's grad to d(root)/d(node). Gradients of leaves accumulate
// across calls: each call sums its own contributions to a leaf first and adds
// the total to its grad once, so calling it twice gives leaves exactly twice
// the gradient. Interior nodes' gradients are recomputed on each call. On
// failure (out of memory, a custom backward that throws) or interrupted
// (interrupt.hpp), no leaf's gradient has changed and no node is left marked;
// interior ones may be partly recomputed (a retry recomputes them all).
void backward(Node* root);

// Zeroes the gradient of every node reachable from root.
void zero_grad(Node* root);

}  // namespace micrograd
