// Interrupting the core's long calls (micrograd/interrupt.hpp): each stops at a
// poll, adds no gradient to any leaf, leaves no mark, and a retry is exact.
#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

#include "micrograd/graph.hpp"
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
