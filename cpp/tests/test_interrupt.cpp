// Interrupting the core's long calls (micrograd/interrupt.hpp): each stops at a
// poll, adds no gradient to any leaf, leaves no mark, and a retry is exact.
#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

#include "micrograd/graph.hpp"
#include "micrograd/graph_replay.hpp"
#include "micrograd/interrupt.hpp"
#include "micrograd/value.hpp"

using namespace micrograd;

namespace {

// Answers true at its n-th call from now (0: never), installed for a scope;
// counts the calls.
class InterruptAt {
public:
    explicit InterruptAt(long n) : previous_(set_interrupt_poll(&poll)) {
        left_ = n;
        calls_ = 0;
    }
    ~InterruptAt() { set_interrupt_poll(previous_); }
    InterruptAt(const InterruptAt&) = delete;
    InterruptAt& operator=(const InterruptAt&) = delete;
    static long calls() { return calls_; }

private:
    static bool poll() {
        ++calls_;
        return left_ > 0 && --left_ == 0;
    }
    static inline long left_ = 0, calls_ = 0;
    InterruptPoll previous_;
};

// y = ((x * w + b) * w + b) ..., 2 * steps interior nodes; and the leaves.
struct Chain {
    Value x{0.5}, w{1.0 + 1e-9}, b{1e-9};
    Value y;
    explicit Chain(std::size_t steps) : y(x) {
        for (std::size_t k = 0; k < steps; ++k)
            y = y * w + b;
    }
    std::vector<double> grads() const { return {x.grad(), w.grad(), b.grad()}; }
    void set_grads(double g) const {
        Value(x).set_grad(g);
        Value(w).set_grad(-g);
        Value(b).set_grad(2 * g);
    }
};

bool no_marks(const Value& root) {
    for (const Node* node : topological_order(root.node()))
        if (node->test(Node::visited) || node->test(Node::emitted)) return false;
    return true;
}

}  // namespace

TEST_CASE("an interrupted Value::backward adds no gradient to a leaf, leaves no mark, and a retry is exact") {
    Chain chain(200000);
    chain.set_grads(0.0);
    long polls = 0;
    {
        InterruptAt count(0);
        chain.y.backward();
        polls = InterruptAt::calls();
    }
    const std::vector<double> once = chain.grads();
    REQUIRE(polls >= 8);  // in the walk, then in the backward pass
    for (long at : {1L, polls / 3, polls / 2, polls - 1, polls}) {
        chain.set_grads(0.25);
        const std::vector<double> before = chain.grads();
        {
            InterruptAt interrupt(at);
            CHECK_THROWS_AS(chain.y.backward(), Interrupted);
        }
        CHECK(chain.grads() == before);
        CHECK(no_marks(chain.y));
        chain.y.backward();
        const std::vector<double> retried = chain.grads();
        for (std::size_t k = 0; k < once.size(); ++k)
            CHECK(retried[k] == before[k] + once[k]);
    }
}

TEST_CASE("an interrupted Graph::backward adds no gradient to a leaf, and a retry is exact") {
    Chain chain(100000);
    Graph graph({chain.y.node()}, {});
    chain.set_grads(0.0);
    graph.backward();
    const std::vector<double> once = chain.grads();
    int interrupted = 0;
    for (long at = 1; at <= 6; ++at) {
        chain.set_grads(-1.5);
        const std::vector<double> before = chain.grads();
        try {
            InterruptAt interrupt(at);
            graph.backward();
        } catch (const Interrupted&) {
            ++interrupted;
            CHECK(chain.grads() == before);
        }
        chain.set_grads(-1.5);
        graph.backward();
        const std::vector<double> retried = chain.grads();
        for (std::size_t k = 0; k < once.size(); ++k)
            CHECK(retried[k] == before[k] + once[k]);
    }
    CHECK(interrupted >= 2);
}

TEST_CASE("an interrupted Graph::forward leaves each node's data as before or recomputed; a retry is exact") {
    Chain chain(100000);
    Graph graph({chain.y.node()}, {});
    const std::vector<Node*> order = topological_order(chain.y.node());
    std::vector<double> old_data;
    for (const Node* node : order)
        old_data.push_back(node->data);
    chain.x.set_data(0.75);
    graph.forward();
    std::vector<double> new_data;
    for (const Node* node : order)
        new_data.push_back(node->data);
    chain.x.set_data(0.5);
    graph.forward();  // back to the old data
    chain.x.set_data(0.75);
    {
        InterruptAt interrupt(2);
        CHECK_THROWS_AS(graph.forward(), Interrupted);
    }
    std::size_t recomputed = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
        CHECK((order[i]->data == old_data[i] || order[i]->data == new_data[i]));
        recomputed += order[i]->data != old_data[i];
    }
    CHECK(recomputed > 0);
    CHECK(recomputed < order.size() - 1);  // the output was not reached
    CHECK(graph.forward() == new_data.back());
    for (std::size_t i = 0; i < order.size(); ++i)
        CHECK(order[i]->data == new_data[i]);
}

TEST_CASE("an interrupted map adds no gradient and writes no node; a retry is exact") {
    Value x(0.0), w(0.5), b(-0.25);
    Value h = x;
    for (int k = 0; k < 300; ++k)  // 600 lane steps: over 200 rows, polls every few steps
        h = tanh(h * w + b);
    Graph graph({h.node()}, {x.node()});
    std::vector<double> rows(200), out(200), clean(200);
    for (std::size_t r = 0; r < rows.size(); ++r)
        rows[r] = 0.01 * double(r);
    MapCaller caller;
    w.set_grad(0.0);
    b.set_grad(0.0);
    graph.map(rows.data(), rows.size(), clean.data(), {true, Reduction::sum}, caller);
    const double w_once = w.grad(), b_once = b.grad(), h_data = h.data();
    for (long at = 1; at <= 5; ++at) {
        w.set_grad(1.0);
        b.set_grad(2.0);
        {
            InterruptAt interrupt(at);
            CHECK_THROWS_AS(graph.map(rows.data(), rows.size(), out.data(), {true, Reduction::sum}, caller),
                            Interrupted);
        }
        CHECK(w.grad() == 1.0);
        CHECK(b.grad() == 2.0);
        CHECK(h.data() == h_data);  // no node written
        graph.map(rows.data(), rows.size(), out.data(), {true, Reduction::sum}, caller);
        CHECK(w.grad() == 1.0 + w_once);
        CHECK(b.grad() == 2.0 + b_once);
        CHECK(out == clean);
    }
}

TEST_CASE("an interrupted capture builds nothing and leaves no mark") {
    Chain chain(200000);
    const auto live = live_node_count();
    {
        InterruptAt interrupt(2);
        CHECK_THROWS_AS(Graph({chain.y.node()}, {chain.x.node()}), Interrupted);
    }
    CHECK(live_node_count() == live);
    CHECK(no_marks(chain.y));
}
