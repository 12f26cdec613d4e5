// Each op's value and gradient against closed forms and central differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

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

TEST_CASE("gradients match central differences") {
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
        check_unary([](const Value& v) { return log(v); }, x);
        check_unary([](const Value& v) { return pow(v, -0.5); }, x);
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
