// Out of memory: freeing never allocates, and a walk that runs out of memory
// leaves every graph as it was. The global operator new is replaced in this
// test program by one that counts, and fails on request.
#include <doctest/doctest.h>

#include <cstdlib>
#include <new>
#include <vector>

#include "micrograd/gradient.hpp"
#include "micrograd/value.hpp"

namespace {
long allocations = 0;
long fail_after = -1;  // >= 0: that many more allocations succeed, then each one throws
}  // namespace

void* operator new(std::size_t size) {
    if (fail_after == 0) throw std::bad_alloc();
    if (fail_after > 0) --fail_after;
    ++allocations;
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace micrograd;

namespace {
// sum_i c_i * x_i over n leaves x_i, as a chain of binary nodes (4n + 1 nodes:
// more than the walks keep scratch space for, 2**20 entries).
struct Chain {
    std::vector<Value> leaves;
    Value root{0.0};
    explicit Chain(int n) {
        leaves.reserve(std::size_t(n));
        for (int i = 0; i < n; ++i)
            leaves.emplace_back(1.0 + i % 7);
        for (int i = 0; i < n; ++i)
            root = root + leaves[std::size_t(i)] * double(1 + i % 3);
    }
    bool gradients_are(double times) const {
        for (std::size_t i = 0; i < leaves.size(); ++i)
            if (leaves[i].grad() != times * double(1 + i % 3)) return false;
        return true;
    }
};
}  // namespace

TEST_CASE("freeing a 3-million-node graph allocates nothing") {
    const auto before = live_node_count();
    {
        Value w(1.0);
        Value x(1.0);
        for (int i = 0; i < 1'000'000; ++i)
            x = w + x * 2.0;  // right-leaning: each node's last operand is the deep one
        Value zero(0.0);
        allocations = 0;
        x = zero;
        CHECK(allocations == 0);
    }
    CHECK(live_node_count() == before);
}

// Runs f with the k-th allocation failing, for k = 0, 1, ... until f succeeds;
// after each failure, checks that `unchanged` holds. Returns the failures seen.
template <class F, class Check>
int fail_each_allocation(F&& f, Check&& unchanged) {
    int failures = 0;
    for (long k = 0;; ++k) {
        CAPTURE(k);
        fail_after = k;
        bool threw = false;
        try {
            f();
        } catch (const std::bad_alloc&) {
            threw = true;
        }
        fail_after = -1;
        if (!threw) return failures;
        ++failures;
        REQUIRE(unchanged());
    }
}

TEST_CASE("backward that runs out of memory changes nothing, and a retry is exact") {
    Chain chain(1 << 19);  // 2M nodes: backward's buffers grow past what it keeps
    const int failures = fail_each_allocation([&] { chain.root.backward(); }, [&] { return chain.gradients_are(0.0); });
    CHECK(failures >= 10);
    CHECK(chain.gradients_are(1.0));
    chain.root.backward();
    CHECK(chain.gradients_are(2.0));
    CHECK(topological_order(chain.root.node()).size() == 4 * (std::size_t(1) << 19) + 1);
}

TEST_CASE("zero_grad and topological_order that run out of memory leave no marks") {
    Chain chain(1 << 19);
    chain.root.backward();
    fail_each_allocation([&] { chain.root.zero_grad(); }, [&] { return chain.gradients_are(1.0); });
    CHECK(chain.gradients_are(0.0));
    const int failures = fail_each_allocation([&] { topological_order(chain.root.node()); }, [] { return true; });
    CHECK(failures >= 1);
    chain.root.backward();
    CHECK(chain.gradients_are(1.0));
}

TEST_CASE("building that runs out of memory leaves every count as it was") {
    const auto before = live_node_count();
    Value a(1.0), b(2.0);
    const auto refs_a = a.node()->refs, refs_b = b.node()->refs;
    for (long k : {0L, 1L, 2L}) {
        fail_after = k;
        CHECK_THROWS_AS(dot({a, b, a}, {b, a, a}), std::bad_alloc);
        fail_after = -1;
    }
    CHECK(a.node()->refs == refs_a);
    CHECK(b.node()->refs == refs_b);
    CHECK(live_node_count() == before + 2);
}

namespace {
// Every node of a graph as it is: its counts, data, gradient and marks.
struct Snapshot {
    std::vector<Node*> nodes;
    std::vector<std::uint32_t> refs;
    std::vector<double> data, grad;
    std::vector<std::uint8_t> flags;
    explicit Snapshot(const Value& root) : nodes(topological_order(root.node())) {
        for (Node* n : nodes) {
            refs.push_back(n->refs);
            data.push_back(n->data);
            grad.push_back(n->grad);
            flags.push_back(n->flags);
        }
    }
    bool unchanged() const {
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const Node* n = nodes[i];
            if (n->refs != refs[i] || n->data != data[i] || n->grad != grad[i] || n->flags != flags[i]) return false;
        }
        return true;
    }
};
}  // namespace

TEST_CASE("a gradient graph that runs out of memory while it is built leaves every graph as it was") {
    Value x(0.75), y(-1.5);
    Value h = tanh(x * y + 0.5) + pow(x, y * y) + relu(y - x) + abs(x) / sqrt(exp(y) + 1.0);
    Value root = dot({h, x, sigmoid(h)}, {y, h, log(x * x + 1.0)}) + sum({h, softplus(y), pow(h, 3.0)});
    for (int i = 0; i < 40; ++i)
        root = tanh(root * x + y * 0.1) + root * 0.5;  // a few hundred nodes: as many allocations
    root.backward();
    const Snapshot before(root);
    const auto live = live_node_count();
    const std::vector<Node*> inputs{x.node(), y.node()};
    auto check = [&] { return before.unchanged() && live_node_count() == live; };
    const int failures = fail_each_allocation([&] { grad({root.node()}, inputs, {}, true, false); }, check);
    CHECK(failures >= 10);  // at each allocation (most nodes come from the free list, without one)
    CHECK(fail_each_allocation([&] { grad({root.node()}, inputs, {}, false, false); }, check) >= 5);
    CHECK(fail_each_allocation([&] { hessian(root.node(), inputs); }, check) >= 10);
    // And a retry is whole: the same numbers as backward().
    const std::vector<Value> g = grad({root.node()}, inputs, {}, true, false);
    CHECK(g[0].data() == x.grad());
    CHECK(g[1].data() == y.grad());
}
