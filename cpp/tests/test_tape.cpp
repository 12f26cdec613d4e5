// A captured graph replayed on its nodes and over a batch, against the graph
// built anew for the same data.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "micrograd/fused.hpp"
#include "micrograd/tape.hpp"
#include "micrograd/value.hpp"

using namespace micrograd;

namespace {
// A small model: two inputs, three parameters, every kind of op.
struct Model {
    Value x0{0.0}, x1{0.0};
    Value w0{0.7}, w1{-1.3}, b{0.25};
    Value build() const { return build(x0, x1); }
    Value build(const Value& u, const Value& v) const {
        Value pre = dot({w0, w1}, {u, v}) + b;
        Value h = tanh(pre) * relu(u - w1) + sigmoid(pre) / (exp(w0) + 2.0);
        return pow(h * h + 1.0, 1.5) + log(softplus(h) + 1.0) + sum({h, pre, abs(v)}) - pow(w0 * w0 + 1.0, v);
    }
};
}  // namespace

TEST_CASE("forward recomputes every node from its leaves, bit for bit") {
    Model m;
    Value out = m.build();
    Tape tape({out.node()}, {});
    m.x0.set_data(0.4);
    m.x1.set_data(-2.2);
    m.w1.set_data(0.9);
    const double replayed = tape.forward();
    const double rebuilt = m.build().data();
    CHECK(replayed == rebuilt);
    CHECK(out.data() == rebuilt);
}

TEST_CASE("backward equals Value::backward, leaves accumulating exactly") {
    Model m;
    m.x0.set_data(0.3);
    m.x1.set_data(1.1);
    Value out = m.build();
    Tape tape({out.node()}, {});
    tape.backward();
    tape.backward();
    const std::vector<double> replayed = {m.w0.grad(), m.w1.grad(), m.b.grad(), m.x0.grad(), m.x1.grad()};
    Model fresh;
    fresh.x0.set_data(0.3);
    fresh.x1.set_data(1.1);
    Value again = fresh.build();
    again.backward();
    again.backward();
    const std::vector<double> direct = {fresh.w0.grad(), fresh.w1.grad(), fresh.b.grad(), fresh.x0.grad(),
                                        fresh.x1.grad()};
    CHECK(replayed == direct);
}

TEST_CASE("a batch: per-row values bit-identical to a rebuild, gradients of the sum to 1e-12") {
    Model m;
    Value out = m.build();
    Value second = out * 2.0;
    Tape tape({out.node(), second.node()}, {m.x0.node(), m.x1.node()});
    const std::vector<double> rows = {0.1, 0.2, -1.5, 0.3, 2.0, -0.7, 0.0, 0.0, 3.3, 1.0};
    const std::size_t count = rows.size() / 2;
    std::vector<double> values(count * 2);
    for (Reduction reduction : {Reduction::sum, Reduction::mean}) {
        m.w0.set_grad(0.0);
        m.w1.set_grad(0.0);
        m.b.set_grad(0.0);
        tape.load_leaves();
        tape.run(rows.data(), count, values.data(), true, reduction);
        tape.store_gradients();
        Model per_row;
        std::vector<Value> losses;
        for (std::size_t r = 0; r < count; ++r) {
            Value loss = per_row.build(Value(rows[2 * r]), Value(rows[2 * r + 1]));  // new input leaves per row
            CHECK(values[2 * r] == loss.data());
            CHECK(values[2 * r + 1] == loss.data() * 2.0);
            losses.push_back(loss);
        }
        Value total = sum(losses);
        if (reduction == Reduction::mean) total = total / double(count);
        total.backward();
        CHECK(m.w0.grad() == doctest::Approx(per_row.w0.grad()).epsilon(1e-12));
        CHECK(m.w1.grad() == doctest::Approx(per_row.w1.grad()).epsilon(1e-12));
        CHECK(m.b.grad() == doctest::Approx(per_row.b.grad()).epsilon(1e-12));
    }
}

TEST_CASE("a batch larger than one chunk of lanes") {
    Value x(0.0), w(1.5);
    Value y = tanh(x * w) * w;
    Tape tape({y.node()}, {x.node()});
    std::vector<double> rows(1000), values(1000);
    double expected = 0.0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
        rows[r] = std::sin(double(r));
        const double t = std::tanh(rows[r] * 1.5);
        expected += (1.0 - t * t) * rows[r] * 1.5 + t;  // d/dw of tanh(x w) w
    }
    tape.load_leaves();
    tape.run(rows.data(), rows.size(), values.data(), true, Reduction::sum);
    tape.store_gradients();
    for (std::size_t r = 0; r < rows.size(); ++r)
        CHECK(values[r] == std::tanh(rows[r] * 1.5) * 1.5);
    CHECK(w.grad() == doctest::Approx(expected).epsilon(1e-12));
    CHECK(x.grad() == 0.0);  // inputs get no gradient
}

TEST_CASE("inputs must be leaves of the graph, each once") {
    Value a(1.0), b(2.0), other(3.0);
    Value c = a * b;
    CHECK_THROWS_AS(Tape({c.node()}, {other.node()}), std::invalid_argument);
    CHECK_THROWS_AS(Tape({c.node()}, {c.node()}), std::invalid_argument);
    CHECK_THROWS_AS(Tape({c.node()}, {a.node(), a.node()}), std::invalid_argument);
    CHECK_THROWS_AS(Tape({}, {}), std::invalid_argument);
    Tape tape({c.node()}, {a.node()});
    CHECK(tape.size() == 3);
    CHECK(tape.differentiable());
    CHECK(!Tape({c.node()}, {a.node(), b.node()}).differentiable());
}

TEST_CASE("the tape keeps its graph alive and frees it with itself") {
    const auto before = live_node_count();
    {
        Tape* tape = nullptr;
        {
            Value a(1.0);
            Value c = a * a + 1.0;
            tape = new Tape({c.node()}, {});
        }
        CHECK(live_node_count() == before + 4);
        CHECK(tape->forward() == 2.0);
        delete tape;
    }
    CHECK(live_node_count() == before);
}

TEST_CASE("chains of + and * (micrograd's neurons) fused in the batch: same values, same gradients") {
    Value x0(0.0), x1(0.0), x2(0.0);
    std::vector<Value> w = {Value(0.3), Value(-0.8), Value(1.7)}, c = {Value(0.5), Value(2.0), Value(-1.0)};
    Value b(0.1);
    Node* xs[] = {x0.node(), x1.node(), x2.node()};
    auto model = [&](Node* const* in) {
        std::vector<Node*> wn = {w[0].node(), w[1].node(), w[2].node()};
        Value h = neuron(wn.data(), const_cast<Node* const*>(in), 3, b.node(), Op::relu);   // b + w0 x0 + ...
        Value mixed = ((h + c[0] * Value::share(in[0])) + Value::share(in[1])) + c[1] * h;  // runs of both kinds
        Value total = mixed;
        for (int k = 0; k < 4; ++k)
            total = total + tanh(total) * c[2];  // chains whose terms are used twice: not fused
        return total;
    };
    Value out = model(xs);
    Tape tape({out.node()}, {x0.node(), x1.node(), x2.node()});
    const std::vector<double> rows = {0.5, -1.0, 2.0, 1.5, 0.25, -0.5, -2.0, 3.0, 1.0};
    std::vector<double> values(3);
    tape.load_leaves();
    tape.run(rows.data(), 3, values.data(), true, Reduction::sum);
    tape.store_gradients();
    std::vector<double> batched;
    for (const Value& p : w)
        batched.push_back(p.grad());
    for (const Value& p : c)
        batched.push_back(p.grad());
    batched.push_back(b.grad());
    for (Value& p : w)
        p.set_grad(0.0);
    for (Value& p : c)
        p.set_grad(0.0);
    b.set_grad(0.0);
    std::vector<Value> losses;
    for (std::size_t r = 0; r < 3; ++r) {
        Value a(rows[3 * r]), d(rows[3 * r + 1]), e(rows[3 * r + 2]);
        Node* in[] = {a.node(), d.node(), e.node()};
        losses.push_back(model(in));
        CHECK(values[r] == losses.back().data());
    }
    sum(losses).backward();
    std::size_t k = 0;
    for (const Value& p : w)
        CHECK(batched[k++] == doctest::Approx(p.grad()).epsilon(1e-13));
    for (const Value& p : c)
        CHECK(batched[k++] == doctest::Approx(p.grad()).epsilon(1e-13));
    CHECK(batched[k] == doctest::Approx(b.grad()).epsilon(1e-13));
}
