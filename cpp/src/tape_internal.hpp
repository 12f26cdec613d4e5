// What the three parts of a Tape share (tape.cpp captures, tape_nodes.cpp
// replays on the nodes, tape_batch.cpp runs the batch): the codes the capture
// writes for the replay, and how a step over lanes names a uniform operand.
#pragma once

#include <cstdint>
#include <limits>

namespace micrograd::tape_detail {

constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();

// Tape::codes_, per step of the replay on the nodes.
constexpr std::uint8_t zero_lhs = 1;     // backward: lhs's gradient is 0 before this step's contribution
constexpr std::uint8_t zero_rhs = 2;     // rhs's
constexpr std::uint8_t zero_listed = 4;  // n-ary: those in zero_operands_
constexpr std::uint8_t run_start = 8;    // the first and the last step of a run (forward_run)
constexpr std::uint8_t run_end = 16;
constexpr std::uint8_t sum_run = 32;          // the run is a neuron's sum (forward_run), else
constexpr std::uint8_t independent_run = 64;  // steps of one binary op reading no node of the run

// An operand of a step over lanes is a lane slot, or, with this bit, a uniform
// node (one value for every row, data_ and grad_ by node index): read as a
// scalar, its gradient summed over the lanes in registers. The uniform program
// (Tape::uniform_) uses node indices alone.
constexpr std::uint32_t uniform_bit = std::uint32_t(1) << 31;
constexpr bool is_uniform(std::uint32_t v) { return (v & uniform_bit) != 0; }
constexpr std::uint32_t node_of(std::uint32_t v) { return v & ~uniform_bit; }

}  // namespace micrograd::tape_detail
