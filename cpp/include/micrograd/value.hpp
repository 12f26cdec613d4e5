// Value: the C++ user's handle on a node, an owning reference with operators.
//
//     Value a(2.0), b(3.0);
//     Value c = a * b + a;
//     c.backward();  // a.grad() == 4, b.grad() == 2
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "micrograd/graph.hpp"
#include "micrograd/label.hpp"
#include "micrograd/node.hpp"

namespace micrograd {

class Value {
public:
    explicit Value(double data) : node_(make_leaf(data)) {}

    // Takes over a reference the caller owns (as returned by the make_* functions).
    static Value adopt(Node* node) { return Value(node); }
    // Shares a node somebody else owns.
    static Value share(Node* node) {
        retain(node);
        return Value(node);
    }

    Value(const Value& other) : node_(other.node_) { retain(node_); }
    Value(Value&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
    Value& operator=(Value other) noexcept {
        std::swap(node_, other.node_);
        return *this;
    }
    ~Value() {
        if (node_) release(node_);
    }

    Node* node() const { return node_; }
    Node* release_node() { return std::exchange(node_, nullptr); }  // hands the reference to the caller

    double data() const { return node_->data; }
    double grad() const { return node_->grad; }
    void set_data(double x) { node_->data = x; }
    void set_grad(double g) { node_->grad = g; }
    Op op() const { return node_->op; }
    const std::string& label() const { return micrograd::label(node_); }
    void set_label(std::string text) { micrograd::set_label(node_, std::move(text)); }

    // The operands, first operand first (a leaf has none).
    std::vector<Value> children() const {
        std::vector<Value> out;
        node_->for_each_child([&](Node* child) { out.push_back(share(child)); });
        return out;
    }

    void backward() const { micrograd::backward(node_); }
    void zero_grad() const { micrograd::zero_grad(node_); }

    friend bool operator==(const Value& a, const Value& b) { return a.node_ == b.node_; }
    friend bool operator!=(const Value& a, const Value& b) { return a.node_ != b.node_; }

private:
    explicit Value(Node* node) : node_(node) {}
    Node* node_;
};

inline Value unary(Op op, const Value& x) { return Value::adopt(make_unary(op, x.node())); }
inline Value binary(Op op, const Value& x, const Value& y) { return Value::adopt(make_binary(op, x.node(), y.node())); }

inline Value operator+(const Value& x, const Value& y) { return binary(Op::add, x, y); }
inline Value operator-(const Value& x, const Value& y) { return binary(Op::sub, x, y); }
inline Value operator*(const Value& x, const Value& y) { return binary(Op::mul, x, y); }
inline Value operator/(const Value& x, const Value& y) { return binary(Op::div, x, y); }
inline Value operator-(const Value& x) { return unary(Op::neg, x); }
inline Value pow(const Value& x, const Value& y) { return binary(Op::pow, x, y); }
inline Value pow(const Value& x, double k) { return Value::adopt(make_pow_const(x.node(), k)); }

// One function per unary op of the table: tanh(x), relu(x), exp(x), ...
#define MICROGRAD_FUNCTION_unary(id) \
    inline Value id(const Value& x) { return unary(Op::id, x); }
#define MICROGRAD_FUNCTION_binary(id)
#define MICROGRAD_FUNCTION_scalar(id)
#define MICROGRAD_FUNCTION_nary(id)
#define MICROGRAD_FUNCTION(id, Struct, arity, ...) MICROGRAD_FUNCTION_##arity(id)
MICROGRAD_OPS(MICROGRAD_FUNCTION)
#undef MICROGRAD_FUNCTION
#undef MICROGRAD_FUNCTION_unary
#undef MICROGRAD_FUNCTION_binary
#undef MICROGRAD_FUNCTION_scalar
#undef MICROGRAD_FUNCTION_nary

// sum(a[i] * b[i]) as one node (Python's sum(a * b for a, b in zip(a, b)), bit
// for bit); throws std::invalid_argument if the lengths differ. Empty: a leaf 0.
Value dot(const std::vector<Value>& a, const std::vector<Value>& b);
// values[0] + values[1] + ... as one node, from 0.0 (Python's sum(values)). Empty: a leaf 0.
Value sum(const std::vector<Value>& values);

// A plain number on either side becomes a constant leaf, as in micrograd.
inline Value operator+(const Value& x, double y) { return x + Value(y); }
inline Value operator+(double x, const Value& y) { return Value(x) + y; }
inline Value operator-(const Value& x, double y) { return x - Value(y); }
inline Value operator-(double x, const Value& y) { return Value(x) - y; }
inline Value operator*(const Value& x, double y) { return x * Value(y); }
inline Value operator*(double x, const Value& y) { return Value(x) * y; }
inline Value operator/(const Value& x, double y) { return x / Value(y); }
inline Value operator/(double x, const Value& y) { return Value(x) / y; }

}  // namespace micrograd
