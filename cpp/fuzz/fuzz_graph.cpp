// Fuzz target for the C++ core: random graphs built, differentiated, walked
// and freed through the public API (micrograd/value.hpp), with allocation
// failures injected on request. Run under AddressSanitizer + UBSan, it looks
// for memory errors and undefined behaviour; besides, it checks after every
// action what must hold for any graph:
//   - a second backward() gives each reachable leaf exactly twice its gradient;
//   - zero_grad() zeroes everything reachable; topological_order() lists each
//     reachable node once, operands first, the root last;
//   - every node's data is its op's forward value of its operands' data;
//   - a Graph replayed forward reproduces every node's data,
//     after a leaf's data changed too, and replayed backward (twice) leaves every node's gradient as
//     backward() of its first output (twice) does, from any gradients before;
//   - grad() of any nodes gives backward()'s gradients bit for bit, touching no
//     node's grad; with create_graph, the same numbers (but for the sign of a
//     zero) as nodes of a graph each holding its op's value;
//   - Graph::map over rows (special values, near overflow) gives each row's outputs bit for bit as the
//     graph recomputed for that row, and each parameter the exact sum of the rows' gradients (each
//     row's backward() of the first output) within n * eps * the sum of their magnitudes, finite
//     wherever that sum is; over one row, the row's gradient bit for bit; interrupted (a poll that
//     fires) or out of memory, it adds no gradient, and the retry is exact;
//   - a build or a walk that runs out of memory changes nothing: no node
//     leaked, no gradient touched, no mark left (a retry gives the same gradients);
//   - freeing a graph allocates nothing, and every node is freed in the end.
//
// The input is a program: one byte chooses an action, the next bytes its
// operands. LLVMFuzzerTestOneInput is libFuzzer's entry point; driver.cpp
// calls it from a seeded generator where libFuzzer is not available.
#include <algorithm>
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
#include "micrograd/graph.hpp"
#include "micrograd/graph_replay.hpp"
#include "micrograd/interrupt.hpp"
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

// The exact sum of doubles as a non-overlapping expansion (Shewchuk's, as Python's math.fsum), rounded at
// the end to within an ulp; terms are scaled by 2**-64 first, so that no partial overflows (none is below
// 2**-960 here, where scaling would lose bits: such terms are summed unscaled apart).
class ExactSum {
public:
    void add(double x) {
        if (std::fabs(x) < 0x1p-900) {
            add_to(small_, x);
        } else {
            add_to(large_, std::ldexp(x, -64));
        }
    }
    double value() const { return std::ldexp(total(large_), 64) + total(small_); }

private:
    static void add_to(std::vector<double>& partials, double x) {
        std::size_t i = 0;
        for (double y : partials) {
            if (std::fabs(x) < std::fabs(y)) std::swap(x, y);
            const double hi = x + y;
            const double lo = y - (hi - x);
            if (lo != 0.0) partials[i++] = lo;
            x = hi;
        }
        partials.resize(i);
        partials.push_back(x);
    }
    static double total(const std::vector<double>& partials) {
        double sum = 0.0;
        for (std::size_t i = partials.size(); i-- > 0;)
            sum += partials[i];
        return sum;
    }
    std::vector<double> large_, small_;
};

// A poll that answers true at its n-th call (0: never): an interrupt on request.
long interrupt_at = 0;
bool interrupt_poll() { return interrupt_at > 0 && --interrupt_at == 0; }

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
        switch (in_.below(8)) {
            case 7: return layer();
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

    // A layer: neurons over the same values of the pool, each with weights of its own (mostly: some
    // shared with another neuron, read twice, or values of the pool), as a Dot (mg.dot) or as micrograd's
    // sum from a bias (a chain of adds the capture fuses); each maybe through a unary op. The neurons go
    // into the pool after it (extra_); returned: the last, or their sum (a layer of one after them).
    Value layer() {
        std::vector<Value> xs;
        for (std::size_t i = 1 + in_.below(6); i > 0; --i)
            xs.push_back(in_.byte() % 8 ? pick() : operand());             // the same value twice, sometimes
        const bool chain = in_.byte() % 2, flipped = in_.byte() % 4 == 0;  // x * w rather than w * x
        std::vector<Value> neurons, weights;
        for (std::size_t n = 1 + in_.below(9); n > 0; --n) {
            std::vector<Value> ws;
            for (std::size_t j = 0; j < xs.size(); ++j) {
                const std::uint8_t kind = in_.byte();
                if (kind % 16 == 0 && !weights.empty())
                    ws.push_back(weights[in_.below(weights.size())]);  // another neuron's, or this one's again
                else if (kind % 16 == 1)
                    ws.push_back(operand());
                else
                    ws.push_back(Value(in_.number()));
                weights.push_back(ws.back());
            }
            Value neuron = flipped ? micrograd::dot(xs, ws) : micrograd::dot(ws, xs);
            if (chain) {
                const std::uint8_t start = in_.byte() % 4;
                neuron = start == 0 ? pick() : Value(start == 1 ? 0.0 : in_.number());  // a bias, or a value
                for (std::size_t j = 0; j < xs.size(); ++j)
                    neuron = neuron + (flipped ? xs[j] * ws[j] : ws[j] * xs[j]);
            }
            if (in_.byte() % 2) neuron = micrograd::unary(unary_ops[in_.below(unary_ops.size())], neuron);
            neurons.push_back(neuron);
        }
        if (in_.byte() % 2) return micrograd::sum(neurons);
        extra_.assign(neurons.begin(), neurons.end() - 1);
        return neurons.back();
    }

    void step() {
        switch (in_.below(11)) {
            case 0:
            case 1:
            case 2:
            case 3:
                add(build());
                for (Value& v : extra_)
                    add(std::move(v));
                extra_.clear();
                break;
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
            case 9:
                if (in_.byte() % 2) {
                    map();
                    break;
                }
                [[fallthrough]];
            default: out_of_memory(); break;
        }
    }

    // A Graph over one or two of the pool's values, replayed on its nodes.
    void replay() {
        std::vector<Node*> outputs{pick().node()};
        if (in_.byte() % 2) outputs.push_back(pick().node());
        micrograd::Graph graph(outputs, {});
        const std::vector<Node*> order = micrograd::topological_order(outputs.data(), outputs.size());
        std::vector<double> data;
        for (const Node* node : order)
            data.push_back(node->data);
        require(identical(graph.forward(), outputs[0]->data), "a replay's forward returned another value");
        for (std::size_t i = 0; i < order.size(); ++i)
            require(identical(order[i]->data, data[i]), "a replay's forward changed a node's data");
        // New data on a leaf: the replay recomputes every node as its op computes it from its operands.
        std::vector<Node*> leaves;
        for (Node* node : order)
            if (node->is_leaf()) leaves.push_back(node);
        Node* changed = leaves[in_.below(leaves.size())];
        const double before = changed->data;
        changed->data = in_.number();
        graph.forward();
        for (const Node* node : order)
            if (!node->is_leaf())
                require(identical(node->data, micrograd::ops::forward(*node)), "a replay's forward missed a node");
        changed->data = before;
        graph.forward();
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
        const std::vector<double> replayed = twice([&] { graph.backward(); });
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

    // A Graph over one of the pool's values with some of its leaves as inputs, mapped over rows.
    void map() {
        const Value out = pick();
        std::vector<Node*> order = micrograd::topological_order(out.node());
        std::vector<Node*> leaves;
        for (Node* node : order)
            if (node->is_leaf()) leaves.push_back(node);
        std::vector<Node*> inputs;
        for (Node* leaf : leaves)
            if (inputs.size() < 3 && in_.byte() % 2) inputs.push_back(leaf);
        std::vector<Node*> params;
        for (Node* leaf : leaves)
            if (std::find(inputs.begin(), inputs.end(), leaf) == inputs.end()) params.push_back(leaf);
        micrograd::Graph graph({out.node()}, inputs);
        const std::size_t count = in_.byte() % 8 ? 1 + in_.below(12) : 1 + in_.below(300);  // chunks' edges too
        std::vector<double> rows(count * inputs.size());
        for (double& r : rows)
            r = in_.byte() % 4 ? in_.number() : double(int(in_.byte()) - 128) * 1e306;  // near overflow
        const bool mean = in_.byte() % 2;
        const micrograd::MapOptions options{graph.differentiable(),
                                            mean ? micrograd::Reduction::mean : micrograd::Reduction::sum};
        std::vector<double> saved_data, values(count);
        for (Node* leaf : inputs)
            saved_data.push_back(leaf->data);
        for (Node* p : params)
            p->grad = 0.0;
        micrograd::MapCaller caller;
        if (in_.byte() % 4 == 0) {  // interrupted, or out of memory: no gradient lands
            const bool interrupt = in_.byte() % 2;
            micrograd::set_interrupt_poll(interrupt_poll);
            interrupt_at = interrupt ? long(1 + in_.below(3)) : 0;
            fail_after = interrupt ? -1 : long(in_.below(4));
            bool stopped = false;
            try {
                graph.map(rows.data(), count, values.data(), options, caller);
            } catch (const micrograd::Interrupted&) {
                stopped = true;
            } catch (const std::bad_alloc&) {
                stopped = true;
            }
            fail_after = -1;
            interrupt_at = 0;
            micrograd::set_interrupt_poll(nullptr);
            for (Node* p : params) {
                if (stopped) require(p->grad == 0.0, "an interrupted or failed map added a gradient");
                p->grad = 0.0;  // else it finished before the poll fired: the retry starts from zero too
            }
        }
        graph.map(rows.data(), count, values.data(), options, caller);
        std::vector<double> mapped;
        for (Node* p : params)
            mapped.push_back(p->grad);
        // The reference: the graph recomputed for each row, and each row's backward.
        std::vector<ExactSum> sums(params.size());
        std::vector<double> magnitudes(params.size(), 0.0);
        std::vector<std::vector<double>> per_row(params.size());
        for (std::size_t r = 0; r < count; ++r) {
            for (std::size_t k = 0; k < inputs.size(); ++k)
                inputs[k]->data = rows[r * inputs.size() + k];
            graph.forward();
            require(identical(values[r], out.data()), "map's output differs from the graph recomputed for its row");
            if (!options.backward) continue;
            for (Node* p : params)
                p->grad = 0.0;
            if (mean) {
                const Value scaled = out / double(count);  // as a rebuild of the mean over rows
                scaled.backward();
            } else {
                out.backward();
            }
            for (std::size_t j = 0; j < params.size(); ++j)
                per_row[j].push_back(params[j]->grad);
        }
        for (std::size_t k = 0; k < inputs.size(); ++k)
            inputs[k]->data = saved_data[k];
        graph.forward();
        for (std::size_t j = 0; j < params.size() && options.backward; ++j) {
            require_within_the_bound(mapped[j], per_row[j]);
            if (count == 1)
                require(same(mapped[j], per_row[j][0]) || (mapped[j] == 0 && per_row[j][0] == 0),
                        "map of one row differs from the row's backward()");
        }
        for (Node* p : params)
            p->grad = 0.0;
    }

    static void print_sum(double ours, double exact, const std::vector<double>& rows) {
        std::fprintf(stderr, "fuzz_graph: map's sum %.17g, the exact %.17g, of the rows:", ours, exact);
        for (double r : rows)
            std::fprintf(stderr, " %.17g", r);
        std::fprintf(stderr, "\n");
    }

    // map's sum of a parameter's rows against their exact sum.
    static void require_within_the_bound(double ours, const std::vector<double>& rows) {
        bool nan = false, plus = false, minus = false;
        for (double r : rows) {
            nan = nan || std::isnan(r);
            plus = plus || r == std::numeric_limits<double>::infinity();
            minus = minus || r == -std::numeric_limits<double>::infinity();
        }
        if (nan || (plus && minus)) return require(std::isnan(ours), "map's sum of rows with nan is not nan");
        if (plus || minus)
            return require(ours == (plus ? 1 : -1) * std::numeric_limits<double>::infinity(),
                           "map's sum of rows with an inf is not it");
        ExactSum exact, magnitude;
        for (double r : rows) {
            exact.add(r);
            magnitude.add(std::fabs(r));
        }
        const double e = exact.value(), m = magnitude.value();
        if (std::isinf(e)) return require(ours == e, "map's sum past the largest double is not inf");
        if (!std::isfinite(ours)) print_sum(ours, e, rows);
        require(std::isfinite(ours), "map's sum of rows is not finite where their exact sum is");
        const double eps = std::numeric_limits<double>::epsilon();
        const double bound = double(rows.size()) * eps * m + std::fabs(e) * eps;  // and the reference's rounding
        const bool within = std::fabs(ours - e) <= bound || (std::isinf(bound) && std::isfinite(ours));
        if (!within) print_sum(ours, e, rows);
        require(within, "map's sum of rows is not within n * eps * sum |row| of their exact sum");
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
        extra_.clear();  // a layer's other neurons: not kept
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
    std::vector<Value> extra_;  // what build() made beside the value it returned: a layer's other neurons
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
