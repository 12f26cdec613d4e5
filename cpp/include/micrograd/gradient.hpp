// Gradients as values or as graphs, as torch.autograd.grad computes them:
//
//     Value x(0.5);
//     Value y = tanh(x) * x;
//     Value dy = grad({y.node()}, {x.node()}, {}, true, false)[0];   // a node: d(y)/dx
//     Value d2y = grad({dy.node()}, {x.node()}, {}, false, false)[0];  // a leaf: d2(y)/dx2
//
// Functional: no node's grad is read or written. With create_graph the
// gradients are nodes of a new graph, made of the op table's ops over the
// outputs' graph (each op's derivative is its own formula in ops.hpp, applied
// to terms instead of numbers), which can be differentiated again, captured
// and replayed like any graph. Iterative: any depth works.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

#include "micrograd/node.hpp"
#include "micrograd/value.hpp"

namespace micrograd {

// The weight of one output in grad(): a number, or a node (with create_graph
// the gradients then depend on that node too; without, its data is the weight).
struct Weight {
    Node* node = nullptr;
    double number = 1.0;
};

// Called between pieces of a long computation (every 2**16 nodes, every row of
// a Hessian); it may throw to stop it (the binding: Ctrl-C). Everything is then
// as it was before the call.
using Poll = void (*)();

// A node whose derivative cannot be written as a graph (a derivative that only
// runs as code). grad() with create_graph throws it; the binding makes it a
// TypeError.
class not_differentiable : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

// For each input j, the sum over k of weights[k] * d(outputs[k])/d(inputs[j])
// (weights empty: all 1). Inputs may be any nodes of the outputs' graph, leaf or
// not, and may repeat. With create_graph each result is a node of a new graph
// (never one of the outputs' graph or a weight itself: a node that would be is
// multiplied by a constant 1); otherwise a new leaf holding the number.
//
// An input that no output depends on is std::invalid_argument, or with
// allow_unused a new leaf 0. Throws std::invalid_argument for no outputs, no
// inputs, or weights of another count than the outputs. On failure (out of
// memory, poll) every graph is as it was.
std::vector<Value> grad(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs,
                        const std::vector<Weight>& weights, bool create_graph, bool allow_unused, Poll poll = nullptr);

// The matrix of second derivatives of output: row i is the gradient of
// d(output)/d(inputs[i]) with respect to the inputs (as
// torch.autograd.functional.hessian). An input the output does not depend on
// has a zero row and column.
std::vector<std::vector<double>> hessian(Node* output, const std::vector<Node*>& inputs, Poll poll = nullptr);

}  // namespace micrograd
