// One node of the expression graph: a scalar, its gradient, and how it was made.
#pragma once

#include <cstdint>

namespace micrograd {

// The operation that produced a node. A leaf was made by the user, not by an op.
enum class Op : std::uint8_t {
    leaf,
    add,
    sub,
    mul,
    div,
    neg,
    pow_const,  // x ** k with a constant exponent k stored in the node
    pow,        // x ** y with both operands in the graph
    tanh,
    relu,
    sigmoid,
    exp,
    log,
    softplus,
};

// A node is 40 bytes: two doubles, two operand slots, a reference count and
// the op. No closure, no heap object per node; the op code selects the local
// derivative (see ops.hpp). Nodes are shared through an intrusive, non-atomic
// reference count: the core is not synchronised, its callers serialise access
// (the Python binding holds the GIL).
struct Node {
    double data;
    double grad = 0.0;
    Node* lhs = nullptr;  // first operand; null for a leaf
    union {
        Node* rhs;        // second operand of a binary op, else null
        double exponent;  // the constant k of Op::pow_const
    };
    std::uint32_t refs = 1;
    Op op;
    std::uint8_t flags = 0;

    enum Flag : std::uint8_t {
        visited = 1,  // marks of a graph walk (graph.cpp), clear between walks
        emitted = 2,
        has_label = 4,         // a label is stored in the side table (label.hpp)
        integer_exponent = 8,  // the exponent of pow_const was given as an integer
    };

    Node(Op op_, double data_, Node* lhs_, Node* rhs_) : data(data_), lhs(lhs_), rhs(rhs_), op(op_) {}
    Node(double data_, Node* base, double exponent_) : data(data_), lhs(base), exponent(exponent_), op(Op::pow_const) {}

    bool is_leaf() const { return op == Op::leaf; }
    bool has_rhs() const { return op != Op::pow_const && rhs != nullptr; }
    bool test(Flag f) const { return (flags & f) != 0; }
    void set(Flag f, bool on) { flags = on ? std::uint8_t(flags | f) : std::uint8_t(flags & ~f); }

    // Calls visit(child) for each operand node, first operand first.
    template <class F>
    void for_each_child(F&& visit) const {
        if (lhs) visit(lhs);
        if (has_rhs()) visit(rhs);
    }
};

static_assert(sizeof(Node) <= 40, "a node must stay compact: data, grad, two links, count, op");

// Reference counting. A new node starts with one reference, owned by its
// creator. release() frees every node whose count reaches zero, iteratively:
// dropping the root of a 10-million-node chain does not recurse.
Node* new_node(Op op, double data, Node* lhs, Node* rhs);  // retains lhs and rhs
void destroy_unreferenced(Node* node) noexcept;            // frees node and what it alone held
[[noreturn]] void throw_reference_overflow();

inline void retain(Node* node) {
    if (node->refs == UINT32_MAX) throw_reference_overflow();
    ++node->refs;
}

inline void release(Node* node) noexcept {
    if (--node->refs == 0) destroy_unreferenced(node);
}

// Number of nodes alive in this process (for leak tests and memory reports).
std::uint64_t live_node_count() noexcept;

}  // namespace micrograd
