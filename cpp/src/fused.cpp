#include "micrograd/fused.hpp"

namespace micrograd {

Value neuron(Node* const* w, Node* const* x, std::size_t n, Node* bias, std::optional<Op> activation) {
    Value sum = Value::share(bias);
    for (std::size_t i = 0; i < n; ++i) {
        Value term = Value::adopt(make_binary(Op::mul, w[i], x[i]));
        sum = Value::adopt(make_binary(Op::add, sum.node(), term.node()));
    }
    if (activation) sum = Value::adopt(make_unary(*activation, sum.node()));
    return sum;
}

}  // namespace micrograd
