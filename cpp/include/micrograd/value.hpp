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
inline Value tanh(const Value& x) { return unary(Op::tanh, x); }
inline Value relu(const Value& x) { return unary(Op::relu, x); }
inline Value sigmoid(const Value& x) { return unary(Op::sigmoid, x); }
inline Value exp(const Value& x) { return unary(Op::exp, x); }
inline Value log(const Value& x) { return unary(Op::log, x); }
inline Value softplus(const Value& x) { return unary(Op::softplus, x); }

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
