// Lifetime: deep graphs build, differentiate and free without recursion or leaks.
#include <doctest/doctest.h>

#include <stdexcept>

#include "micrograd/value.hpp"

using namespace micrograd;

TEST_CASE("a node is 48 bytes") { CHECK(sizeof(Node) == 48); }

TEST_CASE("dropping the last handle frees the whole graph") {
    const auto before = live_node_count();
    {
        Value a(1.0), b(2.0);
        Value c = (a * b + 3.0) * a;
        c.set_label("c");
        CHECK(live_node_count() == before + 6);
    }
    CHECK(live_node_count() == before);
}

TEST_CASE("interior nodes live as long as a user of them") {
    const auto before = live_node_count();
    Value a(1.0);
    Value top = a;
    {
        Value b = a * 2.0;
        top = b + 1.0;
    }
    CHECK(live_node_count() == before + 5);
    top = a;
    CHECK(live_node_count() == before + 1);
}

TEST_CASE("a 2-million-node chain: backward and free without recursion") {
    const auto before = live_node_count();
    {
        Value w(1.0 + 1e-7), bias(1e-7);
        Value x(1.0);
        for (int i = 0; i < 1'000'000; ++i)
            x = x * w + bias;
        x.backward();
        CHECK(w.grad() > 1e6);
        CHECK(bias.grad() > 1e6);
    }
    CHECK(live_node_count() == before);
}

TEST_CASE("reference count overflow is an error, not a wraparound") {
    Value a(1.0);
    a.node()->refs = UINT32_MAX;
    CHECK_THROWS_AS(a + a, std::overflow_error);
    a.node()->refs = 1;
}

// --- allocation: freeing allocates nothing; a failed walk leaves no trace ----

TEST_CASE("an n-ary node owns its operand array and frees it with the graph") {
    const auto before = live_node_count();
    {
        std::vector<Value> xs;
        for (int i = 0; i < 1000; ++i)
            xs.emplace_back(double(i));
        Value s = sum(xs);
        Value d = dot(xs, xs);
        CHECK(live_node_count() == before + 1002);
    }
    CHECK(live_node_count() == before);
}
