// A captured graph: its topological order frozen into a flat tape, replayed
// forward and backward on the graph's own nodes, or over a batch of samples.
//
//     Tape tape({loss.node()}, {x0.node(), x1.node()});
//     tape.forward();   // every node's data recomputed from its leaves'
//     tape.backward();  // as micrograd::backward(loss.node())
//
// The replay on the nodes (tape_nodes.cpp) runs the op structs of ops.hpp over
// the frozen order, bit for bit as Value.backward() would; the batched kernel
// (tape_batch.cpp) runs the same structs over lanes of rows; the capture
// (tape.cpp) prepares both. No formula is written twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "micrograd/node.hpp"

namespace micrograd {

enum class Reduction { sum, mean };

class Tape {
public:
    // Captures every node reachable from outputs (at least one). inputs: leaves
    // of that graph, each at most once, whose data run() takes per row. Throws
    // std::invalid_argument for an input that is not a leaf of the graph or is
    // given twice. Holds a reference to each output, and so to the whole graph.
    Tape(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs);
    ~Tape();
    Tape(const Tape&) = delete;
    Tape& operator=(const Tape&) = delete;

    std::size_t size() const { return nodes_.size(); }
    std::size_t input_count() const { return inputs_.size(); }
    std::size_t output_count() const { return outputs_.size(); }
    Node* output(std::size_t i) const { return nodes_[outputs_[i]]; }
    Node* input(std::size_t i) const { return nodes_[inputs_[i]]; }
    // Bytes the tape holds (instructions, buffers), for memory reports.
    std::size_t memory_bytes() const;

    // --- replay on the graph's own nodes ---
    // Recomputes the data of every captured node from its leaves' current
    // data; returns the first output's.
    double forward();
    // micrograd::backward(first output), without walking the graph again:
    // leaf gradients accumulate (exactly: each call's sum is added once),
    // interior ones are set. Uses every node's current data.
    void backward();

    // --- the batch: one lane per row ---
    // True if the first output depends on a leaf that is not an input (so that
    // run() with backward has a gradient to give).
    bool differentiable() const;
    // Reads the data of every leaf that is not an input. Call before run(),
    // while nodes may be read (the binding holds the GIL).
    void load_leaves();
    // For each of `count` rows (rows: count x input_count, row-major), the
    // outputs' values into out (count x output_count). With backward, sums the
    // gradient of the reduction (sum or mean over rows) of the first output
    // with respect to each leaf that is not an input, for store_gradients().
    // Touches no node: it may run without the GIL, one call per tape at a time.
    void run(const double* rows, std::size_t count, double* out, bool backward, Reduction reduction);
    // Adds the gradients of the last run() to the leaves' grad, once each.
    void store_gradients();

private:
    struct Step {  // one non-leaf node: out = op(x, y)
        Op op;
        std::uint8_t flags;  // Node::fold_from_first (sum)
        std::uint32_t out;
        std::uint32_t x;  // first operand; n-ary: its first operand's place in args
        std::uint32_t y;  // second operand; pow_const: index into constants_; n-ary: operand count
    };
    struct Program {  // steps over one kind of storage (node indices, or lane slots)
        std::vector<Step> steps;
        std::vector<std::uint32_t> args;  // operands of the n-ary steps
    };
    Step step_for(const Node* node, std::uint32_t out, const std::uint32_t* operands,
                  const std::vector<std::uint32_t>& place, Program& program);

    std::vector<Node*> nodes_;  // topological order; the first output's graph first
    std::vector<std::uint32_t> outputs_, inputs_;
    std::size_t first_graph_ = 0;        // nodes_[0 .. first_graph_) are those below the first output
    std::vector<std::uint32_t> leaves_;  // indices of the leaves, in order
    std::vector<Node*> interior_;        // the other nodes, in order
    std::size_t first_leaves_ = 0;       // how many leaves are below the first output
    std::size_t first_interior_ = 0;     // how many of the others are
    std::vector<double> saved_grads_;    // backward(): the leaves' gradients before the call
    // Per interior step (tape_internal.hpp's codes): which operands' gradients backward()
    // zeroes just before its first contribution to them (from their last
    // consumer; no pass of its own), and where the runs of a neuron's sum start
    // and end (runs_: their lengths, first_runs_ of them below the
    // first output). zero_operands_: the n-ary steps' operands to zero, groups
    // after a null, read from the end.
    std::vector<std::uint8_t> codes_;
    std::vector<std::uint32_t> runs_;
    std::size_t first_runs_ = 0;
    std::vector<Node*> zero_operands_;
    std::vector<double> constants_;  // exponents of pow_const (the batch's steps)

    // The batch: nodes that depend on an input vary per row and get a lane
    // slot; the rest are computed once (uniform), and a varying step reads them
    // as one value (its gradient to them summed over the lanes, in registers).
    std::vector<std::uint8_t> varies_;     // per node
    std::vector<std::uint32_t> slot_;      // per node: its lane slot, uniform_bit | it if a lane step reads it, or none
    std::size_t slots_ = 0;                // lane slots
    Program lanes_;                        // varying non-leaf nodes, over slots
    Program uniform_;                      // uniform non-leaf nodes, over node indices
    std::size_t first_lane_steps_ = 0;     // how many of each are below the first output (a prefix:
    std::size_t first_uniform_steps_ = 0;  // backward runs only those)
    std::vector<std::uint32_t> parameters_;  // leaves that are not inputs, below the first output

    // Buffers, kept between calls: no allocation per replay.
    std::vector<double> data_, grad_;              // per node
    std::vector<double> grad_low_;                 // per node: the rounding errors of grad_'s sums over chunks
    std::vector<std::uint32_t> uniform_operands_;  // the uniform nodes the lane steps read, each once
    std::vector<double> lane_data_, lane_grad_;    // per slot and lane
    std::size_t stride_ = 0;                       // lanes per slot in the lane buffers
};

}  // namespace micrograd
