// Graph walks: the seed example, repeated backward, shared subexpressions.
#include <doctest/doctest.h>

#include <algorithm>

#include "micrograd/value.hpp"

using namespace micrograd;

TEST_CASE("the seed example: a*b + a at a=2, b=3") {
    Value a(2.0), b(3.0);
    Value c = a * b + a;
    c.backward();
    CHECK(c.data() == 8.0);
    CHECK(a.grad() == 4.0);
    CHECK(b.grad() == 2.0);
}

TEST_CASE("leaf gradients accumulate, interior ones are recomputed") {
    Value a(2.0), b(3.0);
    Value m = a * b;
    Value c = m + a;
    c.backward();
    c.backward();
    CHECK(a.grad() == 8.0);
    CHECK(b.grad() == 4.0);
    CHECK(m.grad() == 1.0);
    CHECK(c.grad() == 1.0);
    c.zero_grad();
    CHECK(a.grad() == 0.0);
    CHECK(m.grad() == 0.0);
}

TEST_CASE("backward of a leaf accumulates one") {
    Value a(5.0);
    a.backward();
    a.backward();
    CHECK(a.grad() == 2.0);
}

TEST_CASE("a node used twice gets both contributions") {
    Value a(3.0);
    Value sq = a * a;
    Value y = sq + sq;  // 2 a^2
    y.backward();
    CHECK(a.grad() == 12.0);
}

TEST_CASE("topological order: operands first, each node once, root last") {
    Value a(1.0), b(2.0);
    Value s = a + b;
    Value root = s * s + a;
    const auto order = topological_order(root.node());
    REQUIRE(order.size() == 5);
    CHECK(order.back() == root.node());
    auto position = [&](const Node* n) { return std::find(order.begin(), order.end(), n) - order.begin(); };
    CHECK(position(a.node()) < position(s.node()));
    CHECK(position(b.node()) < position(s.node()));
    for (const Node* n : order)
        CHECK(!n->test(Node::visited));
}

TEST_CASE("children keep operand order") {
    Value a(1.0), b(2.0);
    Value d = a - b;
    auto kids = d.children();
    REQUIRE(kids.size() == 2);
    CHECK(kids[0] == a);
    CHECK(kids[1] == b);
    CHECK(pow(a, 2.0).children().size() == 1);
}

TEST_CASE("labels live beside the graph and go with the node") {
    Value a(1.0);
    CHECK(a.label().empty());
    a.set_label("weight");
    CHECK(a.label() == "weight");
    a.set_label("");
    CHECK(a.label().empty());
    CHECK(!a.node()->test(Node::has_label));
}

TEST_CASE("a second backward gives leaves exactly twice the gradient") {
    // Summed into .grad term by term, 0.3 + 0.7 + 1.1 twice is 4.199999999999999, not 2 * 2.1.
    Value a(0.1);
    Value y = a * 0.3 + a * 0.7 + a * 1.1;
    y.backward();
    const double once = a.grad();
    y.backward();
    CHECK(a.grad() == 2 * once);
    y.backward();
    y.backward();
    CHECK(a.grad() == 4 * once);
}
