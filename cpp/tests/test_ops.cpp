// Each op's value and gradient against closed forms and central differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <vector>

#include "micrograd/value.hpp"

using namespace micrograd;

namespace {
using Unary = std::function<Value(const Value&)>;
using Binary = std::function<Value(const Value&, const Value&)>;

double central_difference(const std::function<double(double)>& f, double x) {
    const double h = 1e-6 * std::max(1.0, std::abs(x));
    return (f(x + h) - f(x - h)) / (2 * h);
}

void check_unary(const Unary& op, double x) {
    Value a(x);
    Value out = op(a);
    out.backward();
    const double expected = central_difference([&](double t) { return op(Value(t)).data(); }, x);
    CHECK(a.grad() == doctest::Approx(expected).epsilon(1e-6));
}

void check_binary(const Binary& op, double x, double y) {
    Value a(x), b(y);
    Value out = op(a, b);
    out.backward();
    CHECK(a.grad() ==
          doctest::Approx(central_difference([&](double t) { return op(Value(t), b).data(); }, x)).epsilon(1e-6));
    CHECK(b.grad() ==
          doctest::Approx(central_difference([&](double t) { return op(a, Value(t)).data(); }, y)).epsilon(1e-6));
}
}  // namespace

TEST_CASE("binary ops: values") {
    Value a(3.0), b(-2.0);
    CHECK((a + b).data() == 1.0);
    CHECK((a - b).data() == 5.0);
    CHECK((a * b).data() == -6.0);
    CHECK((a / b).data() == -1.5);
    CHECK(pow(a, b).data() == doctest::Approx(1.0 / 9.0));
    CHECK(pow(a, 2.0).data() == 9.0);
    CHECK((-a).data() == -3.0);
    CHECK((2.0 - a).data() == -1.0);
    CHECK((a / 2.0).data() == 1.5);
}

// Every op of the table, at points inside every op's domain: the gradient
// against central differences. An op added to the table is checked here with
// no edit (the n-ary ones over three pairs or terms).
Value apply_op(const ops::Info& op, const std::vector<Value>& x) {
    switch (op.arity) {
        case Arity::unary: return unary(op.op, x[0]);
        case Arity::binary: return binary(op.op, x[0], x[1]);
        case Arity::scalar: return Value::adopt(make_pow_const(x[0].node(), 1.7));
        case Arity::nary: {
            std::vector<Node*> nodes;
            for (const Value& v : x)
                nodes.push_back(v.node());
            return Value::adopt(make_nary(op.op, nodes.data(), nodes.size()));
        }
        case Arity::leaf:
        case Arity::local:
        case Arity::custom: break;  // not in the table: the ops users define
    }
    FAIL("not an op");
    return x[0];
}

TEST_CASE("every op of the table: gradients match central differences") {
    const std::vector<double> points = {0.3, 1.25, 2.5, 0.8, 1.9, 0.45};
    for (std::size_t i = 0; i < ops::table_size; ++i) {
        const ops::Info& op = ops::table[i];
        CAPTURE(op.id);
        const std::size_t n = op.arity == Arity::binary ? 2 : op.arity == Arity::nary ? 6 : 1;
        const double scale = op.op == Op::binary_cross_entropy ? 1.0 / 3.0 : 1.0;  // probabilities: in (0, 1)
        for (std::size_t shift = 0; shift < 3; ++shift) {
            std::vector<Value> x;
            for (std::size_t k = 0; k < n; ++k)
                x.emplace_back(scale * points[(k + shift) % points.size()]);
            Value out = apply_op(op, x);
            out.backward();
            for (std::size_t k = 0; k < n; ++k) {
                CAPTURE(k);
                const double expected = central_difference(
                    [&](double t) {
                        std::vector<Value> moved;
                        for (std::size_t m = 0; m < n; ++m)
                            moved.emplace_back(m == k ? t : x[m].data());
                        return apply_op(op, moved).data();
                    },
                    x[k].data());
                CHECK(x[k].grad() == doctest::Approx(expected).epsilon(1e-6));
            }
        }
    }
}

TEST_CASE("gradients match central differences on both sides of zero") {
    for (double x : {-1.7, -0.3, 0.4, 2.5}) {
        check_unary([](const Value& v) { return tanh(v); }, x);
        check_unary([](const Value& v) { return sigmoid(v); }, x);
        check_unary([](const Value& v) { return exp(v); }, x);
        check_unary([](const Value& v) { return relu(v); }, x);
        check_unary([](const Value& v) { return softplus(v); }, x);
        check_unary([](const Value& v) { return -v; }, x);
        check_unary([](const Value& v) { return pow(v, 3.0); }, x);
        check_binary([](const Value& u, const Value& v) { return u + v; }, x, 1.3);
        check_binary([](const Value& u, const Value& v) { return u - v; }, x, 1.3);
        check_binary([](const Value& u, const Value& v) { return u * v; }, x, 1.3);
        check_binary([](const Value& u, const Value& v) { return u / v; }, x, 1.3);
    }
    for (double x : {0.2, 1.0, 3.5}) {
        check_binary([](const Value& u, const Value& v) { return pow(u, v); }, x, -1.4);
    }
}

TEST_CASE("activations are stable at extreme inputs") {
    CHECK(tanh(Value(1000.0)).data() == 1.0);
    CHECK(tanh(Value(-1000.0)).data() == -1.0);
    CHECK(sigmoid(Value(1000.0)).data() == 1.0);
    CHECK(sigmoid(Value(-1000.0)).data() == 0.0);
    CHECK(softplus(Value(1000.0)).data() == 1000.0);
    CHECK(softplus(Value(-1000.0)).data() == 0.0);
    CHECK(softplus(Value(-40.0)).data() == doctest::Approx(std::exp(-40.0)).epsilon(1e-12));
    Value x(-1000.0);
    Value s = sigmoid(x);
    s.backward();
    CHECK(x.grad() == 0.0);
    CHECK(!std::isnan(x.grad()));
}

TEST_CASE("IEEE conventions: log, division, overflow") {
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(log(Value(0.0)).data() == -inf);
    CHECK(std::isnan(log(Value(-1.0)).data()));
    CHECK((Value(1.0) / Value(0.0)).data() == inf);
    CHECK(exp(Value(1000.0)).data() == inf);
    CHECK(std::isnan((Value(inf) - Value(inf)).data()));
    CHECK(relu(Value(-inf)).data() == 0.0);
}

TEST_CASE("powers at zero follow PyTorch's masking") {
    Value x(0.0);
    Value y = pow(x, 0.0);  // 0 ** 0 = 1, d/dx taken as 0
    y.backward();
    CHECK(y.data() == 1.0);
    CHECK(x.grad() == 0.0);

    Value base(0.0), k(2.0);
    Value z = pow(base, k);  // d/dk 0 ** k for k >= 0 is 0, not 0 * -inf
    z.backward();
    CHECK(k.grad() == 0.0);
    CHECK(base.grad() == 0.0);
}

TEST_CASE("op names follow micrograd") {
    Value a(1.0);
    CHECK(ops::name((a + a).op()) == "+");
    CHECK(ops::name(relu(a).op()) == "ReLU");
    CHECK(ops::name(a.op()).empty());
}

TEST_CASE("division's gradients neither overflow nor underflow where PyTorch's do not") {
    Value a(1e300), b(1e200);
    (a / b).backward();
    CHECK(b.grad() == doctest::Approx(-1e-100).epsilon(1e-15));
    CHECK(a.grad() == doctest::Approx(1e-200).epsilon(1e-15));

    Value c(1e-300), d(1e-200);
    (c / d).backward();
    CHECK(d.grad() == doctest::Approx(-1e100).epsilon(1e-15));

    Value e(5.04e239);
    (e / e).backward();  // d(e/e)/de is 0, not 1/e - 1/e computed apart
    CHECK(e.grad() == 0.0);
}

TEST_CASE("pow's masks with a nan incoming gradient: as PyTorch's") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    Value x(2.0), zero(0.0);
    Value y = pow(x, 0.0) * Value(nan) + pow(x, zero) * Value(nan);
    y.backward();
    CHECK(x.grad() == 0.0);

    Value base(0.0), k(2.0);  // d/dk's mask is on the local derivative only: nan * 0 is nan, as PyTorch
    Value z = pow(base, k) * Value(nan);
    z.backward();
    CHECK(std::isnan(k.grad()));
}

TEST_CASE("relu at nan: value nan, gradient 1 (PyTorch's mask: output <= 0)") {
    Value x(std::numeric_limits<double>::quiet_NaN());
    Value y = relu(x);
    y.backward();
    CHECK(std::isnan(y.data()));
    CHECK(x.grad() == 1.0);
    Value zero(0.0);
    relu(zero).backward();
    CHECK(zero.grad() == 0.0);
}

TEST_CASE("dot and sum: left folds with the rounding of Python's sum") {
    const std::vector<double> a = {0.1, 0.7, -1e16, 3.3, 1e16}, b = {0.3, 1.1, 1.0, -0.2, 1.0};
    std::vector<Value> va, vb;
    double expected_dot = 0.0, expected_sum = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        va.emplace_back(a[i]);
        vb.emplace_back(b[i]);
        expected_dot = expected_dot + a[i] * b[i];
        expected_sum = expected_sum + a[i];
    }
    Value d = dot(va, vb);
    CHECK(d.data() == expected_dot);
    CHECK(ops::name(d.op()) == "dot");
    CHECK(d.children().size() == 2 * a.size());
    d.backward();
    for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(va[i].grad() == b[i]);
        CHECK(vb[i].grad() == a[i]);
    }
    CHECK(sum(va).data() == expected_sum);
    CHECK(sum({}).data() == 0.0);
    CHECK(dot({}, {}).data() == 0.0);
    CHECK_THROWS_AS(dot(va, {Value(1.0)}), std::invalid_argument);
}

TEST_CASE("an operand used twice in dot gets both contributions") {
    Value x(3.0), y(5.0);
    Value d = dot({x, x, y}, {x, y, y});  // x*x + x*y + y*y
    d.backward();
    CHECK(d.data() == 9.0 + 15.0 + 25.0);
    CHECK(x.grad() == 2 * 3.0 + 5.0);
    CHECK(y.grad() == 3.0 + 2 * 5.0);
}
