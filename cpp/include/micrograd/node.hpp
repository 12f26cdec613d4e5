// One node of the expression graph: a scalar, its gradient, and how it was made.
#pragma once

#include <cstddef>
#include <cstdint>

#include "micrograd/op_table.hpp"

namespace micrograd {

// The operation that produced a node (op_table.hpp). A leaf was made by the
// user, not by an op.
enum class Op : std::uint8_t {
    leaf,
#define MICROGRAD_ENUM(id, ...) id,
    MICROGRAD_OPS(MICROGRAD_ENUM)  //
    MICROGRAD_USER_OPS(MICROGRAD_ENUM)
#undef MICROGRAD_ENUM
};

// How an op takes its operands, and so which of Node's fields hold them.
enum class Arity : std::uint8_t {
    leaf,    // none
    unary,   // lhs
    binary,  // lhs, rhs
    scalar,  // lhs and the constant `exponent` (x ** k)
    nary,    // operands[0 .. count)
    local,   // operands[0 .. count) and their local derivatives, locals()[0 .. count)
    custom,  // operands[0 .. count)
};

constexpr Arity arity(Op op) {
    switch (op) {
        case Op::leaf: return Arity::leaf;
#define MICROGRAD_ARITY(id, Struct, arity_, ...) \
    case Op::id: return Arity::arity_;
            MICROGRAD_OPS(MICROGRAD_ARITY)
            MICROGRAD_USER_OPS(MICROGRAD_ARITY)
#undef MICROGRAD_ARITY
    }
    return Arity::leaf;
}

// A node is 48 bytes: two doubles, two operand slots, a handle, a reference
// count, the op, its flags and the index of the block holding it. No closure,
// no heap object per node; the op code selects the local derivative (see
// ops.hpp). An n-ary node (dot, sum) keeps its operands in an array of its own.
// Nodes are shared through an intrusive, non-atomic reference count: the core
// is not synchronised, its callers serialise access (the Python binding holds
// the GIL). Nodes come from blocks of the node pool (node.cpp): 48 bytes each,
// where the system allocator would take 64 for a 48-byte object.
struct Node {
    double data;
    union {
        double grad = 0.0;
        Node* next_dead;  // once the count is 0: the freeing walk's stack (node.cpp), so freeing never allocates
    };
    union {
        Node* lhs = nullptr;  // first operand; null for a leaf
        Node** operands;      // Arity::nary, local, custom: `count` operands (repeats allowed), owned by the node
    };
    union {
        Node* rhs;          // second operand of a binary op, else null
        double exponent;    // the constant k of Op::pow_const
        std::size_t count;  // Arity::nary, local, custom: number of operands (>= 1)
    };
    // Whoever owns the node's user-facing object may keep it here (the Python binding: the node's
    // one Python Value, so that every way to reach a node gives the same object). Opaque to the
    // core, which never reads it.
    void* handle = nullptr;
    std::uint32_t refs = 1;
    Op op;
    std::uint8_t flags = 0;
    std::uint16_t block = 0;  // the node pool's: the block this node lives in (node.cpp)

    enum Flag : std::uint8_t {
        visited = 1,  // marks of a graph walk (graph.cpp), clear between walks
        emitted = 2,
        has_label = 4,         // a label is stored in the side table (label.hpp)
        integer_exponent = 8,  // the exponent of pow_const was given as an integer
        fold_from_first = 16,  // Op::sum, Op::dot: the first operand is the fold's start (not Python's 0)
        has_name = 32,         // an op's name given when the node was made, in the side table (label.hpp)
    };

    Node(Op op_, double data_, Node* lhs_, Node* rhs_) : data(data_), lhs(lhs_), rhs(rhs_), op(op_) {}

    bool is_leaf() const { return op == Op::leaf; }
    bool test(Flag f) const { return (flags & f) != 0; }
    void set(Flag f, bool on) { flags = on ? std::uint8_t(flags | f) : std::uint8_t(flags & ~f); }

    // Arity::local: the local derivative of each operand, locals()[i] for operands[i] (the node
    // holds them in its operand array, after the operands).
    const double* locals() const { return reinterpret_cast<const double*>(operands + count); }
    // Arity::custom: what the node's maker keeps with it (the Python binding: the backward
    // assigned to it), in its operand array after the operands; null until set. When the node is
    // freed, the custom-release hook (set_custom_release) is given it.
    void*& payload() const { return reinterpret_cast<void**>(operands)[count]; }

    // Calls visit(child) for each operand, first operand first (an operand used
    // twice is visited twice).
    template <class F>
    void for_each_child(F&& visit) const {
        const Arity kind = arity(op);
        if (kind >= Arity::nary) {  // nary, local, custom: an array
            for (std::size_t i = 0; i < count; ++i)
                visit(operands[i]);
            return;
        }
        if (lhs) visit(lhs);  // a leaf has none
        if (kind == Arity::binary) visit(rhs);
    }
};

static_assert(sizeof(Node) <= 48, "a node must stay compact: data, grad, two links, a handle, count, op");

// Reference counting. A new node starts with one reference, owned by its
// creator. release() frees every node whose count reaches zero, iteratively:
// dropping the root of a 10-million-node chain does not recurse, and freeing
// allocates nothing.
Node* new_node(Op op, double data, Node* lhs, Node* rhs);  // retains lhs and rhs
// A node whose operands are in an array of its own (Arity::nary, local, custom), over
// operands[0 .. count), count >= 1; retains each operand once per use. For Arity::local, locals
// holds the local derivative of each operand (copied into the node).
Node* new_nary_node(Op op, Node* const* operands, std::size_t count, const double* locals = nullptr);
void destroy_unreferenced(Node* node) noexcept;  // frees node and what it alone held
// Called with the payload of each Arity::custom node freed while it is set (not null), after the
// node's operands are released and before its memory is; it must not throw. Set once, by whoever
// keeps payloads (the Python binding).
using CustomRelease = void (*)(void* payload) noexcept;
void set_custom_release(CustomRelease hook) noexcept;
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
// Bytes the node pool holds from the system: its blocks, in use or kept for reuse (memory reports).
std::uint64_t node_pool_bytes() noexcept;

}  // namespace micrograd
