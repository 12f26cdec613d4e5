#include "micrograd/node.hpp"

#include <memory>
#include <new>
#include <stdexcept>

#include "micrograd/label.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace micrograd {
namespace {

std::uint64_t live_nodes = 0;

// Recently freed nodes, kept for reuse: a training loop frees a step's graph
// and builds the next one, and taking a node from this list is cheaper than
// malloc (reuse saves about a quarter of micrograd's demo step). Linked
// through the lhs slot of the dead nodes. Bounded (65536 nodes, 3 MiB): the
// rest of a freed graph goes back to the system allocator.
class FreeList {
public:
    void* take() {
        if (!head_) return ::operator new(sizeof(Node));
        Node* node = head_;
        head_ = node->lhs;
        --size_;
        return node;
    }
    void give(Node* node) noexcept {
        if (size_ == capacity) {
            ::operator delete(node);
            return;
        }
        node->lhs = head_;  // a dead node's operand slot serves as the link
        head_ = node;
        ++size_;
    }

private:
    static constexpr std::size_t capacity = std::size_t(1) << 16;
    Node* head_ = nullptr;
    std::size_t size_ = 0;
};

FreeList free_nodes;

// Freeing a large graph leaves glibc holding its memory in fast bins; give it
// back to the system so that memory use falls after `del graph`.
void return_memory_after(std::uint64_t freed) noexcept {
#if defined(__GLIBC__)
    if (freed >= (1u << 16)) malloc_trim(0);
#else
    (void)freed;
#endif
}

// Takes one more reference to each of nodes[0 .. count); on overflow takes none and throws.
void retain_all(Node* const* nodes, std::size_t count) {
    std::size_t done = 0;
    for (; done < count; ++done) {
        if (nodes[done]->refs >= UINT32_MAX - 1) break;
        ++nodes[done]->refs;
    }
    if (done == count) return;
    while (done > 0)
        --nodes[--done]->refs;  // never reaches 0: each was >= 1 before
    throw_reference_overflow();
}

}  // namespace

Node* new_node(Op op, double data, Node* lhs, Node* rhs) {
    // Check before touching any count (lhs and rhs may be one node, counted twice).
    constexpr std::uint32_t room = UINT32_MAX - 1;
    if ((lhs && lhs->refs >= room) || (rhs && rhs->refs >= room)) throw_reference_overflow();
    auto* node = new (free_nodes.take()) Node(op, data, lhs, rhs);
    if (lhs) ++lhs->refs;
    if (rhs) ++rhs->refs;
    ++live_nodes;
    return node;
}

Node* new_nary_node(Op op, Node* const* operands, std::size_t count) {
    if (count == 0) throw std::invalid_argument("an n-ary node needs at least one operand");
    std::unique_ptr<Node*[]> array(new Node*[count]);
    for (std::size_t i = 0; i < count; ++i)
        array[i] = operands[i];
    void* memory = free_nodes.take();
    try {
        retain_all(array.get(), count);
    } catch (...) {
        free_nodes.give(static_cast<Node*>(memory));
        throw;
    }
    auto* node = new (memory) Node(op, 0.0, nullptr, nullptr);
    node->operands = array.release();
    node->count = count;
    ++live_nodes;
    return node;
}

void throw_reference_overflow() { throw std::overflow_error("a node is referenced more than 2**32 - 2 times"); }

void destroy_unreferenced(Node* node) noexcept {
    // Freeing a node drops its operands; those that reach zero are freed in
    // turn. The nodes waiting to be freed form a stack linked through their
    // own (dead) grad slots: a 10M-deep chain frees in a loop, and nothing is
    // allocated, so freeing cannot fail for want of memory.
    std::uint64_t freed = 0;
    Node* dying = nullptr;
    for (;;) {
        node->for_each_child([&dying](Node* child) {
            if (--child->refs == 0) {
                child->next_dead = dying;
                dying = child;
            }
        });
        if (arity(node->op) == Arity::nary) delete[] node->operands;
        if (node->test(Node::has_label)) forget_label(node);
        free_nodes.give(node);
        ++freed;
        if (!dying) break;
        node = dying;
        dying = node->next_dead;
    }
    live_nodes -= freed;
    return_memory_after(freed);
}

std::uint64_t live_node_count() noexcept { return live_nodes; }

}  // namespace micrograd
