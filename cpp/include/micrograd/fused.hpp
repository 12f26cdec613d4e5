// Ops that build many nodes in one call: a neural network's inner loops run
// here instead of crossing from Python into C++ once per multiply.
#pragma once

#include <cstddef>
#include <optional>

#include "micrograd/value.hpp"

namespace micrograd {

// activation(bias + w[0]*x[0] + w[1]*x[1] + ...), one node per step, summed in
// this order (micrograd's, so results match it to the last bit). activation
// is a unary op (Op::relu, Op::tanh, ...) or none for a linear neuron.
Value neuron(Node* const* w, Node* const* x, std::size_t n, Node* bias, std::optional<Op> activation);

}  // namespace micrograd
