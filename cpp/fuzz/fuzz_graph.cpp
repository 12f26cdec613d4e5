// Fuzz target for the C++ core: random graphs built, differentiated, walked
// and freed through the public API (micrograd/value.hpp), with allocation
// failures injected on request. Run under AddressSanitizer + UBSan, it looks
// for memory errors and undefined behaviour; besides, it checks after every
// action what must hold for any graph:
//   - a second backward() gives each reachable leaf exactly twice its gradient;
//   - zero_grad() zeroes everything reachable; topological_order() lists each
//     reachable node once, operands first, the root last;
//   - every node's data is its op's forward value of its operands' data;
//   - a captured graph (Tape) replayed forward reproduces every node's data,
//     after a leaf's data changed too, and replayed backward (twice) leaves every node's gradient as
//     backward() of its first output (twice) does, from any gradients before;
//   - grad() of any nodes gives backward()'s gradients bit for bit, touching no
//     node's grad; with create_graph, the same numbers (but for the sign of a
//     zero) as nodes of a graph each holding its op's value;
//   - a build or a walk that runs out of memory changes nothing: no node
//     leaked, no gradient touched, no mark left (a retry gives the same gradients);
//   - freeing a graph allocates nothing, and every node is freed in the end.
//
// The input is a program: one byte chooses an action, the next bytes its
// operands. LLVMFuzzerTestOneInput is libFuzzer's entry point; driver.cpp
// calls it from a seeded generator where libFuzzer is not available.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <unordered_set>
#include <vector>

#include "micrograd/gradient.hpp"
#include "micrograd/tape.hpp"
#include "micrograd/value.hpp"

// --- allocation: failures on request, and none allowed while freeing --------

namespace {
long fail_after = -1;              // >= 0: that many more allocations succeed, then each one throws
bool allocating_is_a_bug = false;  // set while a graph is freed
}  // namespace

namespace {
void* allocate(std::size_t size) {
    if (allocating_is_a_bug) {
        std::fputs("fuzz_graph: freeing a graph allocated memory\n", stderr);
        std::abort();
    }
    if (fail_after == 0) throw std::bad_alloc();
    if (fail_after > 0) --fail_after;
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
}  // namespace

// Every replaceable form but the aligned ones, so that each delete meets its own new.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // malloc'd by the operator new above
#endif
void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return allocate(size);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

using micrograd::Arity;
using micrograd::Node;
using micrograd::Op;
using micrograd::Value;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_graph: %s\n", what);
    std::abort();
}
void require(bool ok, const char* what) {
    if (!ok) fail(what);
}

bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }
// The same bits, but for a nan's payload (a compiler may swap the operands of + and *).
bool identical(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return a == b && std::signbit(a) == std::signbit(b);
}

// The ops of the table, by how they are applied.
constexpr Op all_ops[] = {
#define MICROGRAD_ID(id, ...) Op::id,
    MICROGRAD_OPS(MICROGRAD_ID)
#undef MICROGRAD_ID
};
std::vector<Op> ops_of(Arity arity) {
    std::vector<Op> out;
    for (Op op : all_ops)
        if (micrograd::arity(op) == arity) out.push_back(op);
    return out;
}
const std::vector<Op> unary_ops = ops_of(Arity::unary);
const std::vector<Op> binary_ops = ops_of(Arity::binary);

constexpr double special[] = {
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    3.0,
    -2.5,
    0.1,
    1.0 / 3.0,
    1e16,
    1e-8,
    709.0,
    -745.0,
    20.0,
    -30.0,
    1e300,
    -1e300,
    1e-300,
    5e-324,
    std::numeric_limits<double>::max(),
    std::numeric_limits<double>::min(),
    std::numeric_limits<double>::infinity(),
    -std::numeric_limits<double>::infinity(),
    std::numeric_limits<double>::quiet_NaN(),
};

class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
    bool empty() const { return n_ == 0; }
    std::uint8_t byte() {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }
    std::size_t below(std::size_t n) { return n == 0 ? 0 : byte() % n; }
    double number() {
        const std::uint8_t b = byte();
        if (b < 224) return special[b % (sizeof special / sizeof special[0])];
        if (b < 240) return double(int(byte()) - 128) / 8.0;  // small multiples of 1/8
        double x = 0.0;                                       // any double: 8 raw bytes
        std::uint8_t raw[sizeof x] = {};
        for (auto& r : raw)
            r = byte();
        std::memcpy(&x, raw, sizeof x);
        return x;
    }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

// Every node reachable from root, checked: once each, operands first, root last.
std::vector<Node*> checked_order(const Value& root) {
    const std::vector<Node*> order = micrograd::topological_order(root.node());
    require(!order.empty() && order.back() == root.node(), "topological_order: the root is not last");
    for (const Node* node : order)
        require(!node->test(Node::visited) && !node->test(Node::emitted), "a walk left a mark");
    if (order.size() > 4096) return order;  // the large graph: its marks are what is checked
    std::unordered_set<const Node*> seen;
    for (const Node* node : order) {
        node->for_each_child([&](const Node* child) { require(seen.count(child) == 1, "an operand after its user"); });
        require(seen.insert(node).second, "topological_order: a node twice");
        if (!node->is_leaf()) require(same(micrograd::ops::forward(*node), node->data), "data is not its op's value");
    }
    return order;
}

std::vector<double> grads(const std::vector<Node*>& nodes) {
    std::vector<double> out;
    out.reserve(nodes.size());
    for (const Node* node : nodes)
        out.push_back(node->grad);
    return out;
}

// The leaves' gradients of a clean backward from zero, then the doubling rule.
std::vector<double> reference_gradients(const Value& root, const std::vector<Node*>& order) {
    root.zero_grad();
    for (const Node* node : order)
        require(node->grad == 0.0, "zero_grad missed a node");
    root.backward();
    std::vector<double> first = grads(order);
    root.backward();
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (!order[i]->is_leaf()) continue;
        require(same(order[i]->grad, 2.0 * first[i]), "a second backward is not exactly twice the first");
    }
    return first;
}

void require_leaf_gradients(const std::vector<Node*>& order, const std::vector<double>& expected, double times,
                            const char* what) {
    for (std::size_t i = 0; i < order.size(); ++i)
        if (order[i]->is_leaf()) require(same(order[i]->grad, times * expected[i]), what);
}

class Program {
public:
    explicit Program(Input& in) : in_(in) {}

    void run() {
        // Rarely (1 random program in 4096), one out-of-memory action walks a graph of over 2**20
        // nodes: more than the walks keep scratch space for, so that its walk grows (and fails in)
        // every buffer. It takes about a second under ASan: the deterministic driver does it, but not
        // libFuzzer, which would find the key at once and spend its budget there.
#ifndef MICROGRAD_LIBFUZZER
        large_graph_pending_ = in_.byte() == 0xFF && in_.byte() < 16;
#endif
        const std::size_t leaves = 1 + in_.below(5);
        for (std::size_t i = 0; i < leaves; ++i)
            pool_.emplace_back(in_.number());
        for (int steps = 0; steps < 200 && !in_.empty(); ++steps)
            step();
        if (!pool_.empty()) {
            const std::vector<Node*> order = checked_order(pool_.back());
            reference_gradients(pool_.back(), order);
        }
        allocating_is_a_bug = true;  // freeing allocates nothing
        while (!pool_.empty())
            pool_.erase(pool_.begin() + long(in_.below(pool_.size())));  // in a random order
        allocating_is_a_bug = false;
    }

private:
    const Value& pick() { return pool_[in_.below(pool_.size())]; }
    Value operand() {
        if (in_.byte() % 4 == 0) return Value(in_.number());  // a constant leaf
        return pick();
    }
    void add(Value v) {
        if (pool_.size() < 64) {
            pool_.push_back(std::move(v));
        } else {
            allocating_is_a_bug = true;  // drops a graph
            pool_[in_.below(pool_.size())] = std::move(v);
            allocating_is_a_bug = false;
        }
    }

    // One action that builds a node.
    Value build() {
        switch (in_.below(7)) {
            case 6: {  // a neuron's sum, ((s + a*b) + c*d) + ..., some terms plain values
                Value acc = pick();
                for (std::size_t i = 1 + in_.below(8); i > 0; --i)
                    acc = acc + (in_.byte() % 4 ? operand() * operand() : operand());
                return acc;
            }
            case 0: return micrograd::unary(unary_ops[in_.below(unary_ops.size())], pick());
            case 1: return micrograd::binary(binary_ops[in_.below(binary_ops.size())], operand(), operand());
            case 2: return micrograd::pow(pick(), in_.number());
            case 3: {  // dot of up to 4 pairs
                std::vector<Value> a, b;
                for (std::size_t i = in_.below(5); i > 0; --i) {
                    a.push_back(operand());
                    b.push_back(operand());
                }
                return micrograd::dot(a, b);
            }
            case 4: {  // sum of up to 5 values
                std::vector<Value> xs;
                for (std::size_t i = in_.below(6); i > 0; --i)
                    xs.push_back(operand());
                return micrograd::sum(xs);
            }
            default: {  // an operator with a plain number on one side
                const Value x = pick();
                const double c = in_.number();
                switch (in_.below(8)) {
                    case 0: return x + c;
                    case 1: return c + x;
                    case 2: return x - c;
                    case 3: return c - x;
                    case 4: return x * c;
                    case 5: return c * x;
                    case 6: return x / c;
                    default: return c / x;
                }
            }
        }
    }

    void step() {
        switch (in_.below(10)) {
            case 0:
            case 1:
            case 2:
            case 3: add(build()); break;
            case 4:  // drop a value (and what only it held)
                if (pool_.size() > 1) {
                    allocating_is_a_bug = true;
                    pool_.erase(pool_.begin() + long(in_.below(pool_.size())));
                    allocating_is_a_bug = false;
                }
                break;
            case 5: {  // backward from any node: doubling, and zero_grad
                const Value& root = pick();
                reference_gradients(root, checked_order(root));
                break;
            }
            case 6: {  // a label, read back; the operands, as the node has them
                const Value& v = pick();
                std::string text(in_.below(24), 'a');
                for (char& ch : text)
                    ch = char(in_.byte());
                Value(v).set_label(text);
                require(v.label() == text, "a label was not kept");
                std::vector<Node*> children;
                v.node()->for_each_child([&](Node* child) { children.push_back(child); });
                const std::vector<Value> operands = v.children();
                require(operands.size() == children.size(), "children() differs from the node's operands");
                for (std::size_t i = 0; i < children.size(); ++i)
                    require(operands[i].node() == children[i], "children() differs from the node's operands");
                break;
            }
            case 7: replay(); break;
            case 8: gradients(); break;
            default: out_of_memory(); break;
        }
    }

    // A Tape over one or two of the pool's values, replayed.
    void replay() {
        std::vector<Node*> outputs{pick().node()};
        if (in_.byte() % 2) outputs.push_back(pick().node());
        micrograd::Tape tape(outputs, {});
        const std::vector<Node*> order = micrograd::topological_order(outputs.data(), outputs.size());
        std::vector<double> data;
        for (const Node* node : order)
            data.push_back(node->data);
        require(identical(tape.forward(), outputs[0]->data), "a replay's forward returned another value");
        for (std::size_t i = 0; i < order.size(); ++i)
            require(identical(order[i]->data, data[i]), "a replay's forward changed a node's data");
        // New data on a leaf: the replay recomputes every node as its op computes it from its operands.
        std::vector<Node*> leaves;
        for (Node* node : order)
            if (node->is_leaf()) leaves.push_back(node);
        Node* changed = leaves[in_.below(leaves.size())];
        const double before = changed->data;
        changed->data = in_.number();
        tape.forward();
        for (const Node* node : order)
            if (!node->is_leaf())
                require(identical(node->data, micrograd::ops::forward(*node)), "a replay's forward missed a node");
        changed->data = before;
        tape.forward();
        for (std::size_t i = 0; i < order.size(); ++i)
            require(identical(order[i]->data, data[i]), "a replay's forward did not restore a node's data");
        std::vector<double> start;  // any gradients before: left over, nan, signed zeros
        for (std::size_t i = 0; i < order.size(); ++i)
            start.push_back(in_.byte() % 2 ? 0.0 : in_.number());
        auto twice = [&](auto backward) {
            for (std::size_t i = 0; i < order.size(); ++i)
                order[i]->grad = start[i];
            backward();
            std::vector<double> after = grads(order);
            backward();
            const std::vector<double> again = grads(order);
            after.insert(after.end(), again.begin(), again.end());
            return after;
        };
        const std::vector<double> replayed = twice([&] { tape.backward(); });
        const std::vector<double> direct = twice([&] { micrograd::backward(outputs[0]); });
        for (std::size_t i = 0; i < replayed.size(); ++i)
            require(identical(replayed[i], direct[i]), "a replay's backward differs from backward()");
    }

    // grad() of a value of the pool with respect to some others (or to nodes not in its graph).
    void gradients() {
        const Value root = pick();
        std::vector<Node*> inputs;
        for (std::size_t i = 1 + in_.below(3); i > 0; --i)
            inputs.push_back(pick().node());
        const std::vector<Node*> order = checked_order(root);
        std::vector<Node*> everything = order;  // the pool's nodes, whose grads grad() may not touch
        for (const Value& v : pool_)
            everything.push_back(v.node());
        const std::vector<double> before = grads(everything);
        const std::vector<Value> numbers = micrograd::grad({root.node()}, inputs, {}, false, true);
        const std::vector<Value> graphs = micrograd::grad({root.node()}, inputs, {}, true, true);
        const std::vector<double> after = grads(everything);
        for (std::size_t i = 0; i < after.size(); ++i)
            require(identical(after[i], before[i]), "grad() changed a node's grad");
        root.zero_grad();
        root.backward();
        for (std::size_t j = 0; j < inputs.size(); ++j) {
            bool reached = false;
            for (const Node* node : order)
                reached = reached || node == inputs[j];
            const double expected = reached ? inputs[j]->grad : 0.0;
            require(identical(numbers[j].data(), expected), "grad() differs from backward()");
            require(same(graphs[j].data(), expected), "grad(create_graph) differs from backward()");
            checked_order(graphs[j]);  // each of its nodes holds its op's value
        }
    }

    // A chain of 2**20 + n nodes ending in one of the pool's values.
    Value large_graph() {
        Value x = pick();
        for (std::size_t i = (std::size_t(1) << 19) + in_.below(256); i > 0; --i)
            x = x + 1.0;  // two nodes per step
        return x;
    }

    // One action with the n-th allocation from now failing; then what must hold.
    void out_of_memory() {
        long countdown = long(in_.below(12));
        Value root = pick();
        if (large_graph_pending_) {
            large_graph_pending_ = false;
            root = large_graph();
            countdown = long(in_.below(48));  // each buffer doubles some 20 times
        }
        const std::vector<Node*> order = checked_order(root);
        const std::vector<double> expected = reference_gradients(root, order);  // leaves hold 2x expected now
        const std::vector<double> before = grads(order);
        const auto live = micrograd::live_node_count();
        const int action = int(in_.below(5));
        fail_after = countdown;
        bool failed = false;
        try {
            switch (action) {
                case 0: root.backward(); break;
                case 1: root.zero_grad(); break;
                case 2: (void)micrograd::topological_order(root.node()); break;
                case 3: add(build()); break;
                default: (void)micrograd::grad({root.node()}, {pick().node()}, {}, true, true); break;
            }
        } catch (const std::bad_alloc&) {
            failed = true;
        }
        fail_after = -1;
        if (failed) {
            const std::vector<double> after = grads(order);
            for (std::size_t i = 0; i < after.size(); ++i)
                require(same(after[i], before[i]), "a walk that ran out of memory changed a gradient");
            if (action >= 3) require(micrograd::live_node_count() == live, "a failed build leaked a node");
        }
        checked_order(root);  // no mark left behind
        root.zero_grad();
        root.backward();  // the retry sees every node
        require_leaf_gradients(order, expected, 1.0, "after running out of memory, a retry's gradients differ");
    }

    Input& in_;
    std::vector<Value> pool_;
    bool large_graph_pending_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto live = micrograd::live_node_count();
    {
        Input in(data, size);
        Program(in).run();
    }
    require(micrograd::live_node_count() == live, "a node outlived every Value");
    return 0;
}
