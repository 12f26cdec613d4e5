// The node replay of a Graph: forward and backward on the graph's own nodes,
// over the order frozen at capture, bit for bit as ops::forward and
// Value::backward compute them, without walking the graph again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "graph_capture.hpp"
#include "micrograd/node.hpp"

namespace micrograd::graph_detail {

// The most n-ary nodes forward() computes side by side.
constexpr std::size_t fold_group_size = 4;

class NodeReplay {
public:
    explicit NodeReplay(const Capture& c);

    // Recomputes the data of every interior node from its operands', in order.
    // Interrupted (interrupt.hpp), each node's data is as before or recomputed.
    void forward();
    // micrograd::backward(first output): leaf gradients accumulate (each call's
    // sum added once), interior ones are set; an input routed (route()) keeps
    // its gradient as it was. input_grads: this call's gradient of each input
    // (0 for one the first output does not reach). Interrupted, no leaf's
    // gradient has changed, nor input_grads; interior ones may be partly set.
    void backward(double* input_grads);
    // Whether input k's gradient goes elsewhere (Graph::feed): backward()
    // leaves its own as it was.
    bool reaches_input(std::size_t k) const { return input_leaf_[k] != none; }  // the first output depends on it
    void route(std::size_t k, bool routed) {
        if (input_leaf_[k] != none) routed_[input_leaf_[k]] = routed;
    }

    std::size_t bytes() const;

private:
    // The passes of the constructor.
    void split_leaves(const Capture& c);
    void plan_zeroing(const Capture& c);
    void find_runs(const Capture& c);
    void find_fold_groups(const Capture& c);

    Node* first_output_;
    std::vector<Node*> interior_;            // the interior nodes, in order
    std::size_t first_interior_ = 0;         // how many of them the first output reaches (a prefix)
    std::vector<Node*> leaves_;              // the leaves the first output reaches
    std::vector<double> saved_grads_;        // backward(): their gradients before the call
    std::vector<std::uint32_t> input_leaf_;  // per input, its index in leaves_, or none
    std::vector<std::uint8_t> routed_;       // per leaf: an input whose gradient goes elsewhere (route())
    // Per interior node (the codes of graph_nodes.cpp): which operands' gradients
    // backward() zeroes just before its first contribution to them (from their
    // last consumer; no pass of its own), and where runs start and end (runs_:
    // their lengths, first_runs_ of them below the first output). zero_operands_:
    // the n-ary nodes' operands to zero, groups after a null, read from the end.
    std::vector<std::uint8_t> codes_;
    std::vector<std::uint32_t> runs_;
    std::size_t first_runs_ = 0;
    std::vector<Node*> zero_operands_;
    // forward's groups of n-ary nodes (the codes' fold_group), fold_group_size
    // slots each, null after a group's last node, then a null: the first of each
    // group is the one the order reaches first.
    std::vector<Node*> groups_;
};

}  // namespace micrograd::graph_detail
