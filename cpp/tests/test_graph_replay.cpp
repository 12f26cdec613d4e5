// A Graph replayed on its nodes and over a batch, against the graph built anew
// for the same data.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "graph_batch.hpp"  // the batch's table of derivatives (cpp/src)
#include "micrograd/fused.hpp"
#include "micrograd/graph_replay.hpp"
#include "micrograd/ops.hpp"
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

void map(Graph& graph, const double* rows, std::size_t count, double* out, bool backward,
         Reduction reduction = Reduction::sum) {
    MapCaller caller;
    graph.map(rows, count, out, MapOptions{backward, reduction}, caller);
}
}  // namespace

TEST_CASE("forward recomputes every node from its leaves, bit for bit") {
    Model m;
    Value out = m.build();
    Graph graph({out.node()}, {});
    m.x0.set_data(0.4);
    m.x1.set_data(-2.2);
    m.w1.set_data(0.9);
    const double replayed = graph.forward();
    const double rebuilt = m.build().data();
    CHECK(replayed == rebuilt);
    CHECK(out.data() == rebuilt);
}

TEST_CASE("backward equals Value::backward, leaves accumulating exactly") {
    Model m;
    m.x0.set_data(0.3);
    m.x1.set_data(1.1);
    Value out = m.build();
    Graph graph({out.node()}, {});
    graph.backward();
    graph.backward();
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
    Graph graph({out.node(), second.node()}, {m.x0.node(), m.x1.node()});
    const std::vector<double> rows = {0.1, 0.2, -1.5, 0.3, 2.0, -0.7, 0.0, 0.0, 3.3, 1.0};
    const std::size_t count = rows.size() / 2;
    std::vector<double> values(count * 2);
    for (Reduction reduction : {Reduction::sum, Reduction::mean}) {
        m.w0.set_grad(0.0);
        m.w1.set_grad(0.0);
        m.b.set_grad(0.0);
        map(graph, rows.data(), count, values.data(), true, reduction);
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
    Graph graph({y.node()}, {x.node()});
    std::vector<double> rows(1000), values(1000);
    double expected = 0.0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
        rows[r] = std::sin(double(r));
        const double t = std::tanh(rows[r] * 1.5);
        expected += (1.0 - t * t) * rows[r] * 1.5 + t;  // d/dw of tanh(x w) w
    }
    map(graph, rows.data(), rows.size(), values.data(), true, Reduction::sum);
    for (std::size_t r = 0; r < rows.size(); ++r)
        CHECK(values[r] == std::tanh(rows[r] * 1.5) * 1.5);
    CHECK(w.grad() == doctest::Approx(expected).epsilon(1e-12));
    CHECK(x.grad() == 0.0);  // inputs get no gradient
}

TEST_CASE("inputs must be leaves of the graph, each once") {
    Value a(1.0), b(2.0), other(3.0);
    Value c = a * b;
    CHECK_THROWS_AS(Graph({c.node()}, {other.node()}), std::invalid_argument);
    CHECK_THROWS_AS(Graph({c.node()}, {c.node()}), std::invalid_argument);
    CHECK_THROWS_AS(Graph({c.node()}, {a.node(), a.node()}), std::invalid_argument);
    CHECK_THROWS_AS(Graph({}, {}), std::invalid_argument);
    Graph graph({c.node()}, {a.node()});
    CHECK(graph.size() == 3);
    CHECK(graph.differentiable());
    CHECK(!Graph({c.node()}, {a.node(), b.node()}).differentiable());
}

TEST_CASE("a Graph keeps its nodes alive and frees them with itself") {
    const auto before = live_node_count();
    {
        Graph* graph = nullptr;
        {
            Value a(1.0);
            Value c = a * a + 1.0;
            graph = new Graph({c.node()}, {});
        }
        CHECK(live_node_count() == before + 4);
        CHECK(graph->forward() == 2.0);
        delete graph;
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
    Graph graph({out.node()}, {x0.node(), x1.node(), x2.node()});
    const std::vector<double> rows = {0.5, -1.0, 2.0, 1.5, 0.25, -0.5, -2.0, 3.0, 1.0};
    std::vector<double> values(3);
    map(graph, rows.data(), 3, values.data(), true, Reduction::sum);
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

// --- the batch's table of derivatives the same in every row (graph_batch.hpp) ---

TEST_CASE("every derivative the batch takes to be the same in every row is, in its op's struct") {
    // For each op and operand position the table says is not row-dependent, given which
    // operands vary: the struct's term for that operand must not change when the varying
    // operands' data (and so the output) change.
    const double g = 0.75;
    const double values[] = {-2.5, -0.5, 0.25, 1.5, 3.0};
    auto varies_in = [](unsigned mask) { return [mask](std::size_t m) { return ((mask >> m) & 1u) != 0; }; };
    for (unsigned mask = 1; mask < 4; ++mask) {  // which of two operands vary (at least one: a lane step)
        for (std::size_t k = 0; k < 2; ++k) {
            const auto varies = varies_in(mask);
            auto check_binary = [&](Op op, auto s) {
                using S = decltype(s);
                if (graph_detail::derivative_varies(op, false, k, varies)) return;
                double first = 0.0;
                bool seen = false;
                for (double a : values) {
                    for (double b : values) {
                        const double x = varies(0) ? a : 1.25, y = varies(1) ? b : -0.5;
                        double gx = 0.0, gy = 0.0;
                        S::backward(g, x, y, S::forward(x, y), gx, gy);
                        const double term = k == 0 ? gx : gy;
                        if (seen) CHECK(term == first);
                        first = term;
                        seen = true;
                    }
                }
            };
            check_binary(Op::add, ops::Add{});
            check_binary(Op::sub, ops::Sub{});
            check_binary(Op::mul, ops::Mul{});
            check_binary(Op::div, ops::Div{});
            for (Op op : {Op::pow, Op::tanh, Op::relu, Op::exp, Op::log, Op::sigmoid, Op::softplus, Op::abs, Op::sqrt,
                          Op::pow_const})
                CHECK(graph_detail::derivative_varies(op, false, k, varies));  // not in the table: per row
        }
    }
    // neg: its one operand varies; its derivative, -1, does not.
    CHECK(!graph_detail::derivative_varies(Op::neg, false, 0, varies_in(1)));
    for (double x : values) {
        double gx = 0.0;
        ops::Neg::backward(g, x, ops::Neg::forward(x), gx);
        CHECK(gx == -g);
    }
    // sum: every operand's term is g; dot: a start's is g, a pair's the other factor.
    for (bool start : {false, true}) {
        for (std::size_t k = 0; k < 3; ++k)
            CHECK(!graph_detail::derivative_varies(Op::sum, start, k, varies_in(7)));
        double gs = 0.0, gx = 0.0;
        ops::Sum::backward_start(g, gs);
        ops::Sum::backward_step(g, gx);
        CHECK(gs == g);
        CHECK(gx == g);
    }
    CHECK(!graph_detail::derivative_varies(Op::dot, true, 0, varies_in(7)));   // the start
    CHECK(graph_detail::derivative_varies(Op::dot, true, 1, varies_in(7)));    // a0 times a varying b0
    CHECK(!graph_detail::derivative_varies(Op::dot, true, 1, varies_in(2)));   // a0 times a uniform b0
    CHECK(!graph_detail::derivative_varies(Op::dot, false, 1, varies_in(2)));  // b0 times a uniform a0
    for (double a : values) {
        double ga = 0.0, gb = 0.0;
        ops::Dot::backward_step(g, a, 2.0, ga, gb);
        CHECK(ga == g * 2.0);  // a's term: the other factor, whatever a is
    }
}

TEST_CASE("what a Graph tells of itself is safe to read from another thread while map grows its buffers") {
    // A data race under ThreadSanitizer before (memory_bytes read the lane buffers map was swapping).
    Value x(0.0), w(0.5);
    Value h = x;
    for (int k = 0; k < 20; ++k)
        h = tanh(h * w);
    std::vector<std::unique_ptr<Graph>> graphs;
    for (int k = 0; k < 20; ++k)
        graphs.push_back(std::make_unique<Graph>(std::vector<Node*>{h.node()}, std::vector<Node*>{x.node()}));
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> bad{0};
    std::thread reader([&] {
        while (!stop)
            for (const auto& g : graphs)
                if (g->memory_bytes() == 0 || g->memory_bytes() > (std::size_t(1) << 30) || g->size() == 0 ||
                    g->output(0) != h.node())
                    ++bad;
    });
    std::vector<double> rows(128, 0.25), out(128);
    MapCaller caller;
    for (const auto& g : graphs)
        for (std::size_t n = 1; n <= 128; n *= 2)  // each a wider chunk: the buffers grow
            g->map(rows.data(), n, out.data(), {true, Reduction::sum}, caller);
    stop = true;
    reader.join();
    CHECK(bad == 0);
}

TEST_CASE("feed: numbers become the inputs' data; a source stands for its input, gathered and scattered") {
    Model m;
    Value out = m.build();
    Graph graph({out.node()}, {m.x0.node(), m.x1.node()});
    const double numbers[] = {0.4, -2.2};
    graph.feed(numbers, nullptr);
    CHECK(m.x0.data() == 0.4);
    double grads[2] = {7.0, 7.0};
    CHECK_FALSE(graph.input_gradients(grads));  // no backward yet
    CHECK(grads[0] == 7.0);
    graph.forward();
    graph.backward();
    REQUIRE(graph.input_gradients(grads));
    Value u(0.4), v(-2.2);
    Value rebuilt = m.build(u, v);
    micrograd::backward(rebuilt.node());
    CHECK(grads[0] == u.grad());
    CHECK(grads[1] == v.grad());
    CHECK(m.x0.grad() == u.grad());  // a number-fed input's own gradient accumulates

    Value row(1.5);  // x1 stands for row: its data gathered, its gradient scattered to row
    Node* sources[] = {nullptr, row.node()};
    const double x1_grad = m.x1.grad();
    graph.feed(numbers, sources);
    CHECK(graph.fed(1) == row.node());
    CHECK(graph.forward() == m.build(Value(0.4), Value(1.5)).data());
    CHECK(m.x1.data() == 1.5);
    graph.backward();
    REQUIRE(graph.input_gradients(grads));
    CHECK(row.grad() == grads[1]);
    CHECK(m.x1.grad() == x1_grad);  // routed: its own gradient as it was
}

TEST_CASE("feed refuses a source made by an op or one of the graph's inputs, changing nothing") {
    Model m;
    Value out = m.build();
    Graph graph({out.node()}, {m.x0.node(), m.x1.node()});
    const double numbers[] = {0.5, 0.5};
    Value made = m.w0 * 2.0;
    Node* interior[] = {made.node(), nullptr};
    Node* input[] = {nullptr, m.x0.node()};
    m.x0.set_data(3.0);
    CHECK_THROWS_AS(graph.feed(numbers, interior), std::invalid_argument);
    CHECK_THROWS_AS(graph.feed(numbers, input), std::invalid_argument);
    CHECK(m.x0.data() == 3.0);
    CHECK(graph.fed(0) == nullptr);
    CHECK(graph.fed(1) == nullptr);
}
