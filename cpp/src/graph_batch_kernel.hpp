// The batch kernel of a Graph (graph_batch.hpp): steps over lanes of rows, each
// op its struct of ops.hpp.
//
// A step reads and writes lanes, value v of lane b at data[v * stride + b], one
// lane per row of a chunk of rows; the loops over the lanes run along
// contiguous memory and vectorise. An operand that is the same in every row
// (uniform_bit and its node index) is read as one value, and the step's terms
// of its gradient are summed over the lanes in registers. The uniform steps
// themselves run once per call, on one lane (the loops gone) over node indices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "graph_capture.hpp"
#include "micrograd/interrupt.hpp"
#include "micrograd/node.hpp"

namespace micrograd::graph_detail {

// An operand of a lane step is a lane slot, or, with this bit, a uniform node.
constexpr std::uint32_t uniform_bit = std::uint32_t(1) << 31;
constexpr bool is_uniform(std::uint32_t v) { return (v & uniform_bit) != 0; }
constexpr std::uint32_t node_of(std::uint32_t v) { return v & ~uniform_bit; }

// What runs a step: the struct of the op table for its op, or a kernel of its
// own (each kind one case of run_forward and run_backward, graph_batch_kernel.cpp).
enum class StepKind : std::uint8_t {
    op,
    // Backward only: adds to lane out, in order, the terms args[x .. x + y) of
    // Memory::parts, which a uniform node whose gradient is the same in every
    // row gives it: where a rebuild adds them, between the other terms.
    same_part,
};

// Step::flags beside Node::fold_from_first:
constexpr std::uint8_t backward_only = 128;   // a uniform node whose gradient differs per row
constexpr std::uint8_t reads_row_terms = 64;  // an operand with RowTerms (see Memory)
constexpr std::uint8_t terms_before = 32;     // and some with terms before the varying one

struct Step {  // out = op(x, y)
    Op op;
    StepKind kind = StepKind::op;
    std::uint8_t flags = 0;  // Node::fold_from_first (dot, sum), backward_only, reads_row_terms
    std::uint32_t out = 0;
    std::uint32_t x = 0;  // first operand; n-ary: its first operand's place in args
    std::uint32_t y = 0;  // second operand; pow_const: index into constants; n-ary: operand count
};

// A layer (graph_batch.cpp's group_layers): sibling Dot steps, the members,
// whose pairs read the same lane slots x_0 .. x_{pairs-1}, in that order, each
// beside a uniform node of its own (a neuron's weights). Over many lanes the
// first member runs them all as matrix products (graph_batch_layer.hpp), each
// member's fold still in its own order; the others are skipped. Over one lane
// each member runs as its own step.
struct Group {
    std::uint32_t members;  // Program::group_args[first ..): the members' step indices, in order
    std::uint32_t pairs;    // then their lane slots x_j; then, member by member, each one's weights' nodes
    std::uint32_t first;
    std::uint32_t packed;  // Memory::packed from here: weights, sums, starts' values (Batch::pack_groups)
    std::uint8_t terms;    // and the weights' RowTerms: a bit each, some before (1), some after (2), two after (4)
};
constexpr std::uint32_t in_group = none - 1;  // Program::group_of: a member other than the first

struct Program {  // steps over one kind of storage (node indices, or lane slots)
    std::vector<Step> steps;
    std::vector<std::uint32_t> args;  // operands of the n-ary steps
    std::vector<Group> groups;
    std::vector<std::uint32_t> group_args;
    std::vector<std::uint32_t> group_of;  // per step, if any group: its group at its first member, in_group, none
};

// The terms of a row's gradient that are the same in every row, for a uniform
// node whose one varying term is summed in registers: in the rebuild's order,
// those before it (summed: they are the first), then up to two after it.
struct RowTerms {
    double before = 0.0;
    double after[2] = {0.0, 0.0};  // 0.0 where there are fewer (adding it is exact)
};
constexpr std::size_t max_terms_after = 2;  // more: the node gets lanes, each term added there in turn

constexpr std::size_t max_lanes_per_chunk = 128;  // rows a chunk holds at most

struct Memory {
    double* data;  // lanes: value v of lane b at data[v * stride + b]
    double* grad;
    const double* uniform;          // the uniform nodes' values, by node index
    double* uniform_grad;           // the sums over rows of their gradients, by node index
    double* uniform_low;            // the rounding errors of those sums (see add_to_uniform)
    const std::uint32_t* terms_of;  // by node index: its RowTerms in row_terms, or none
    const RowTerms* row_terms;
    const double* parts;        // terms the same in every row, one by one (StepKind::same_part)
    double scale;               // each row's gradient is multiplied by it before it is summed (a power of 2)
    const std::uint32_t* args;  // the n-ary steps' operands
    const double* constants;    // pow_const's exponents
    // The groups' weights and their RowTerms, and their sums over a chunk of lanes (Group::packed).
    const double* packed = nullptr;
    double* sums = nullptr;
};

// Counts the work (lane-steps) done since the last poll for an interrupt.
// A Poll that does not poll (polls false) is a helper thread's: only the
// calling thread looks for an interrupt, and stops the others.
class Poll {
public:
    explicit Poll(bool polls = true) : polls_(polls) {}
    void work(std::size_t lane_steps) {
        done_ += lane_steps;
        if (done_ >= interrupt_interval) {
            done_ = 0;
            if (polls_) poll_interrupt();
        }
    }
    void now() {
        if (polls_) poll_interrupt();
    }

private:
    std::size_t done_ = 0;
    bool polls_;
};

// The steps program.steps[begin .. end) forward over `lanes` lanes of `stride`
// (stride 1: one lane), but for the backward-only ones.
void forward_steps(const Program& program, std::size_t begin, std::size_t end, const Memory& m, std::size_t stride,
                   std::size_t lanes, Poll& poll);
// The steps program.steps[0 .. end) backward, from the last.
void backward_steps(const Program& program, std::size_t end, const Memory& m, std::size_t stride, std::size_t lanes,
                    Poll& poll);
// One step backward over one lane.
void backward_one(const Step& s, const Memory& m);
// The terms uniform step s (over node indices, m's uniform arrays) adds to each
// of its operands' gradients, one per operand (an operand read twice gets
// two), into terms, in its operands' order.
void operand_terms(const Step& s, const Memory& m, double* terms);
// Adds scale * (the sum of lane[0 .. lanes)) to uniform node i's gradient.
void add_lanes_to_uniform(const Memory& m, std::uint32_t i, const double* lane, std::size_t lanes);

}  // namespace micrograd::graph_detail
