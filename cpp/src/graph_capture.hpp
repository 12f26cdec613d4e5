// A Graph's capture (graph_replay.hpp): the topological order of every node its
// outputs reach, each node's operands as indices into that order, and its
// inputs and outputs. The two plans, the node replay (graph_nodes.hpp) and the
// batch (graph_batch.hpp), are built from it; then only the order is kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "micrograd/node.hpp"

namespace micrograd::graph_detail {

constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();

struct Capture {
    std::vector<Node*> order;                // operands first; the first output's graph first, itself last of it
    std::vector<std::size_t> first_operand;  // node i's operands: operands[first_operand[i] .. first_operand[i + 1])
    std::vector<std::uint32_t> operands;     // as indices into order, first operand first
    std::vector<std::uint32_t> inputs, outputs;  // as indices into order
    std::size_t first_graph = 0;                 // order[0 .. first_graph) is what the first output reaches

    std::size_t size() const { return order.size(); }
    const Node& node(std::size_t i) const { return *order[i]; }
    bool is_leaf(std::size_t i) const { return order[i]->is_leaf(); }
    std::size_t operand_count(std::size_t i) const { return first_operand[i + 1] - first_operand[i]; }
    std::uint32_t operand(std::size_t i, std::size_t k) const { return operands[first_operand[i] + k]; }
    const std::uint32_t* operands_of(std::size_t i) const { return operands.data() + first_operand[i]; }
};

// Throws std::invalid_argument for no output, an input that is not a leaf of the
// graph or is given twice, or a graph of more than 2**31 - 1 nodes (the batch
// keeps a bit of its operand indices for itself).
Capture capture(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs);

}  // namespace micrograd::graph_detail
