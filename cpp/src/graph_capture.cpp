// A Graph's capture: three passes over what the outputs reach.
#include "graph_capture.hpp"

#include <stdexcept>
#include <string>

#include "micrograd/graph.hpp"

namespace micrograd::graph_detail {
namespace {

// Each node's operands as indices into the order (CSR), and the inputs' and
// outputs' indices. A node's index is kept in its own grad while they are read
// (its grad saved and put back, with no allocation in between): no hash table
// for 10 million nodes. Inputs not in the graph get `none`.
void index_operands(Capture& c, const std::vector<Node*>& inputs, const std::vector<Node*>& outputs) {
    const std::size_t n = c.order.size();
    c.first_operand.assign(n + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t count = 0;
        c.order[i]->for_each_child([&count](Node*) { ++count; });
        c.first_operand[i + 1] = c.first_operand[i] + count;
    }
    c.operands.resize(c.first_operand[n]);
    c.inputs.assign(inputs.size(), none);
    c.outputs.resize(outputs.size());
    std::vector<double> saved(n);
    for (std::size_t i = 0; i < n; ++i) {  // nothing below allocates or throws until the grads are back
        saved[i] = c.order[i]->grad;
        c.order[i]->grad = double(i);  // exact: i < 2**31
        c.order[i]->set(Node::visited, true);
    }
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t k = c.first_operand[i];
        c.order[i]->for_each_child([&](Node* child) { c.operands[k++] = std::uint32_t(child->grad); });
    }
    for (std::size_t k = 0; k < inputs.size(); ++k)
        if (inputs[k]->test(Node::visited)) c.inputs[k] = std::uint32_t(inputs[k]->grad);
    for (std::size_t k = 0; k < outputs.size(); ++k)
        c.outputs[k] = std::uint32_t(outputs[k]->grad);
    for (std::size_t i = 0; i < n; ++i) {
        c.order[i]->grad = saved[i];
        c.order[i]->set(Node::visited, false);
    }
}

// Each input a leaf of the graph, given once.
void check_inputs(const Capture& c) {
    std::vector<bool> seen(c.order.size(), false);
    for (std::size_t k = 0; k < c.inputs.size(); ++k) {
        const std::uint32_t i = c.inputs[k];
        const std::string input = "input " + std::to_string(k);
        if (i == none) throw std::invalid_argument(input + " is not a node of the graph");
        if (!c.is_leaf(i)) throw std::invalid_argument(input + " is not a leaf (it was made by an op)");
        if (seen[i]) throw std::invalid_argument(input + " is given twice");
        seen[i] = true;
    }
}

}  // namespace

Capture capture(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs) {
    if (outputs.empty()) throw std::invalid_argument("a graph needs at least one output");
    Capture c;
    c.order = topological_order(outputs.data(), outputs.size());
    for (const Node* node : c.order)
        if (arity(node->op) >= Arity::local) refuse_custom_op(*node);
    if (c.order.size() >= (std::size_t(1) << 31)) throw std::invalid_argument("a graph of more than 2**31 - 1 nodes");
    index_operands(c, inputs, outputs);
    check_inputs(c);
    c.first_graph = std::size_t(c.outputs[0]) + 1;  // the walk emits the first output's graph first, itself last
    return c;
}

}  // namespace micrograd::graph_detail
