#include "micrograd/node.hpp"

#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>

#include "micrograd/label.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define MICROGRAD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MICROGRAD_ASAN 1
#endif
#endif
#ifdef MICROGRAD_ASAN
#include <sanitizer/asan_interface.h>
#define MICROGRAD_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define MICROGRAD_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define MICROGRAD_POISON(p, n) ((void)(p), (void)(n))
#define MICROGRAD_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace micrograd {
namespace {

std::uint64_t live_nodes = 0;
CustomRelease custom_release = nullptr;

// The node pool. Nodes are carved from blocks of 256 KiB (5,460 nodes of 48 bytes each, where
// malloc would round a 48-byte object up to a 64-byte chunk). Each block counts its live nodes
// and keeps its own list of freed ones, linked through their lhs slot; a node finds its block
// through its 16-bit `block` index into the table below. A training loop frees a step's graph and
// builds the next one: its nodes are taken again from the blocks' lists, cheaper than malloc.
// A block whose last node is freed is kept for reuse (up to 12 of them, 3 MiB) or given back to
// the system, so memory falls after `del graph`. Giving a node back never allocates and never
// recurses. Beyond 65,535 blocks (357 million live nodes), nodes are allocated one by one.
// Guarded by the caller's serialisation (node.hpp).
class NodePool {
public:
    // Constant-initialised (no code runs before the first node, whatever the order in which
    // static objects are made), and all zeros but for two words: the tables cost no memory until
    // they are used.
    constexpr NodePool() : current_(&sentinel_) {}

    // Memory for one node, and the index of its block (0: allocated on its own). Throws
    // std::bad_alloc when the system has no memory for a new block.
    void* take(std::uint16_t& block) {
        Block* b = current_;
        Node* node = b->free;
        if (node) {
            MICROGRAD_UNPOISON(node, sizeof(Node));
            b->free = node->lhs;
        } else if (b->fresh < per_block) {
            node = b->nodes() + b->fresh++;
            MICROGRAD_UNPOISON(node, sizeof(Node));
        } else {
            return take_from_another(block);
        }
        ++b->live;
        block = b->index;
        return node;
    }

    void give(Node* node) noexcept {
        const std::uint16_t index = node->block;
        if (index == 0) {  // allocated on its own
            ::operator delete(node);
            return;
        }
        Block* b = table_[index];
        node->lhs = b->free;
        b->free = node;
        MICROGRAD_POISON(node, sizeof(Node));
        --b->live;
        if (b != current_ && (b->live == 0 || !b->listed)) settle(b);
    }

    std::uint64_t bytes() const noexcept { return std::uint64_t(blocks_) * block_bytes; }

private:
    static constexpr std::size_t block_bytes = std::size_t(1) << 18;
    static constexpr std::size_t header_bytes = 64;
    static constexpr std::uint32_t per_block = std::uint32_t((block_bytes - header_bytes) / sizeof(Node));
    static constexpr std::size_t table_size = std::size_t(1) << 16;  // block indices 1 .. 65535
    static constexpr std::size_t keep_empty = 12;

    struct Block {
        static constexpr Block without_room() {
            Block b;
            b.fresh = per_block;
            return b;
        }
        Node* free = nullptr;     // freed nodes, linked through lhs
        std::uint32_t live = 0;   // nodes handed out and not yet given back
        std::uint32_t fresh = 0;  // nodes()[fresh ..] were never handed out
        Block* prev = nullptr;    // the list of blocks with room, while listed
        Block* next = nullptr;
        std::uint16_t index = 0;
        bool listed = false;
        Node* nodes() { return reinterpret_cast<Node*>(reinterpret_cast<char*>(this) + header_bytes); }
    };
    static_assert(sizeof(Block) <= header_bytes, "the block header fits before its first node");
    static_assert(header_bytes % alignof(Node) == 0, "nodes are aligned");

    // current_ has no room left: it is full (every node it freed went back to its own list), so it
    // stays out of the list. The next block: one with room, else an empty one kept, else a new one.
    void* take_from_another(std::uint16_t& block) {
        Block* b = partial_;
        if (b) {
            unlink(b);
        } else if (empties_ > 0) {
            b = empty_[--empties_];
        } else if (free_indices_ > 0 || unused_index_ < table_size) {
            b = new_block();  // may throw: nothing changed yet
        } else {
            block = 0;
            return ::operator new(sizeof(Node));
        }
        current_ = b;
        return take(block);
    }

    Block* new_block() {
        void* memory = ::operator new(block_bytes);
        auto* b = new (memory) Block();
        b->index = free_indices_ > 0 ? free_index_[--free_indices_] : std::uint16_t(unused_index_++);
        table_[b->index] = b;
        ++blocks_;
        MICROGRAD_POISON(b->nodes(), per_block * sizeof(Node));
        return b;
    }

    // b (not current_) just became empty, or just got room while full.
    void settle(Block* b) noexcept {
        if (b->live > 0) {  // it was full: list it
            b->next = partial_;
            b->prev = nullptr;
            if (partial_) partial_->prev = b;
            partial_ = b;
            b->listed = true;
            return;
        }
        if (b->listed) unlink(b);
        if (empties_ < keep_empty) {
            b->free = nullptr;  // taken again from its start, in order
            b->fresh = 0;
            MICROGRAD_POISON(b->nodes(), per_block * sizeof(Node));
            empty_[empties_++] = b;
            return;
        }
        table_[b->index] = nullptr;
        free_index_[free_indices_++] = b->index;
        --blocks_;
        MICROGRAD_UNPOISON(b->nodes(), per_block * sizeof(Node));
        b->~Block();
        ::operator delete(b);
    }

    void unlink(Block* b) noexcept {
        if (b->prev)
            b->prev->next = b->next;
        else
            partial_ = b->next;
        if (b->next) b->next->prev = b->prev;
        b->prev = b->next = nullptr;
        b->listed = false;
    }

    Block sentinel_ = Block::without_room();  // current_ is never null: at first, a block with no room
    Block* current_;
    Block* partial_ = nullptr;  // blocks with room, other than current_
    Block* empty_[keep_empty] = {};
    std::size_t empties_ = 0;
    std::size_t blocks_ = 0;
    Block* table_[table_size] = {};
    std::uint16_t free_index_[table_size] = {};  // indices of released blocks, for reuse
    std::size_t free_indices_ = 0;
    std::size_t unused_index_ = 1;  // indices from here on were never used
};

// Trivially destructible: never destroyed, graphs may be freed at interpreter exit.
NodePool node_pool;
NodePool& pool() { return node_pool; }

// Freeing a large graph leaves glibc holding the blocks it got back; return them to the system
// so that memory use falls after `del graph`.
void return_memory_after(std::uint64_t freed) noexcept {
#if defined(__GLIBC__)
    if (freed >= (1u << 16)) malloc_trim(0);
#else
    (void)freed;
#endif
}

// The operand array of a node being made, freed unless handed over.
struct FreeOperands {
    void operator()(void* array) const noexcept { ::operator delete(array); }
};
using OperandArray = std::unique_ptr<void, FreeOperands>;

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
    std::uint16_t block;
    auto* node = new (pool().take(block)) Node(op, data, lhs, rhs);
    node->block = block;
    if (lhs) ++lhs->refs;
    if (rhs) ++rhs->refs;
    ++live_nodes;
    return node;
}

Node* new_nary_node(Op op, Node* const* operands, std::size_t count, const double* locals) {
    if (count == 0) throw std::invalid_argument("an n-ary node needs at least one operand");
    const bool local = arity(op) == Arity::local;
    const bool custom = arity(op) == Arity::custom;
    const std::size_t each = sizeof(Node*) + (local ? sizeof(double) : 0);
    if (count > SIZE_MAX / each - 1) throw std::bad_alloc();
    // The operands, then (Arity::local) their derivatives or (Arity::custom) the payload.
    OperandArray array(::operator new(count* each + (custom ? sizeof(void*) : 0)));
    auto** slots = static_cast<Node**>(array.get());
    for (std::size_t i = 0; i < count; ++i)
        new (slots + i) Node*(operands[i]);
    if (custom) new (slots + count) void*(nullptr);
    if (local)
        for (std::size_t i = 0; i < count; ++i)
            new (reinterpret_cast<double*>(slots + count) + i) double(locals[i]);
    std::uint16_t block;
    void* memory = pool().take(block);
    try {
        retain_all(slots, count);
    } catch (...) {
        auto* unused = new (memory) Node(Op::leaf, 0.0, nullptr, nullptr);
        unused->block = block;
        pool().give(unused);
        throw;
    }
    auto* node = new (memory) Node(op, 0.0, nullptr, nullptr);
    node->block = block;
    node->operands = static_cast<Node**>(array.release());
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
    NodePool& nodes = pool();
    std::uint64_t freed = 0;
    Node* dying = nullptr;
    for (;;) {
        node->for_each_child([&dying](Node* child) {
            if (--child->refs == 0) {
                child->next_dead = dying;
                dying = child;
            }
        });
        if (node->op == Op::custom && node->payload() && custom_release) custom_release(node->payload());
        if (arity(node->op) >= Arity::nary) ::operator delete(node->operands);
        if (node->test(Node::has_label) || node->test(Node::has_name)) forget_texts(node);
        nodes.give(node);
        ++freed;
        if (!dying) break;
        node = dying;
        dying = node->next_dead;
    }
    live_nodes -= freed;
    return_memory_after(freed);
}

std::uint64_t live_node_count() noexcept { return live_nodes; }

void set_custom_release(CustomRelease hook) noexcept { custom_release = hook; }

std::uint64_t node_pool_bytes() noexcept { return pool().bytes(); }

}  // namespace micrograd
