// The batch of a Graph (graph_replay.hpp's map): its plan, built from the
// capture by named passes, and the buffers a call of map works in.
//
// Nodes whose data depend on an input vary per row and get a lane slot; the
// rest, the uniform nodes, are computed once per call. Each parameter's
// gradient is the sum over the rows of what a per-row rebuild's backward gives
// it, and each row's gradient is combined in that row, term by term in the
// rebuild's order, before the rows are summed:
//   - a node whose gradient is the same in every row (a regulariser added to the
//     loss, and what it reads) is differentiated once, for one row, and its
//     terms are added to each row's gradient of the nodes it reaches where a
//     rebuild adds them (RowTerms, same_part steps);
//   - a parameter read by one varying step sums that step's terms over the rows
//     in registers;
//   - every other uniform node whose gradient is worked out per row (read by
//     several varying steps, or an interior node such as p.log() read by one)
//     gets lanes too, its value broadcast: its backward runs per row.
// The rows' sums carry their rounding errors (TwoSum); a sum that overflows is
// taken again from rows scaled by a power of two.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "graph_batch_kernel.hpp"
#include "graph_capture.hpp"
#include "micrograd/graph_replay.hpp"

namespace micrograd::graph_detail {

// Whether the local derivative of op (a node whose data vary per row) with
// respect to its k-th operand can differ between rows, given which operands'
// data do (operand_varies(m)): a constant for +, -, neg and sum, the other
// factor for a product, 1 / y for x / y. Anything else is taken to vary (the
// safe answer: that gradient is then worked out per row). The C++ tests check
// each "no" against the op's struct.
template <class OperandVaries>
bool derivative_varies(Op op, bool fold_from_first, std::size_t k, OperandVaries operand_varies) {
    switch (op) {
        case Op::add:
        case Op::sub:
        case Op::neg:
        case Op::sum: return false;
        case Op::mul: return operand_varies(1 - k);
        case Op::div: return k == 1 || operand_varies(1);
        case Op::dot: {  // [start,] a0, b0, a1, b1, ...: d/d(a_j) = b_j, d/d(b_j) = a_j
            const std::size_t first = fold_from_first ? 1 : 0;
            return k >= first && operand_varies(((k - first) ^ 1) + first);
        }
        default: return true;
    }
}

class Batch {
public:
    explicit Batch(const Capture& c);

    bool differentiable() const { return !parameters_.empty(); }
    // Reads the data of the leaves that are not inputs (the caller guards the nodes).
    void load_leaves();
    // The rows' outputs into out and, with options.backward, the parameters'
    // gradients into this batch's sums. Touches no node.
    void run(const double* rows, std::size_t count, double* out, const MapOptions& options);
    // Adds the sums of the last run to the parameters' grad.
    void store_gradients();

    std::size_t plan_bytes() const;
    std::size_t buffer_bytes() const { return buffer_bytes_.load(std::memory_order_relaxed); }
    void forget_buffers() noexcept;

    struct Parameter {  // a leaf that is not an input, below the first output
        Node* node;
        std::uint32_t index;  // in the order
    };

private:
    struct Passes;  // the constructor's passes (graph_batch.cpp)

    struct Worker {  // a thread's buffers: lanes (data, then gradients: slots_ x stride_ each), then
                     // per node its sums over a chunk's rows and their errors, then the groups' sums
        std::unique_ptr<double[]> memory;
    };
    struct Chunk;  // what run_chunk reads

    std::size_t thread_count(std::size_t count, std::size_t width, std::size_t asked) const;
    void ensure_buffers(std::size_t width, std::size_t threads);
    void pack_groups();
    Memory memory(double* data, double* grad, double scale);
    void same_in_every_row(double seed, Poll& poll);
    void run_chunks(const double* rows, std::size_t count, double* out, bool backward, double seed, double scale,
                    Poll& poll, std::size_t threads);
    void run_round(const Chunk& chunk, std::size_t first, std::size_t last, std::size_t helpers, Poll& poll);
    void run_chunk(const Chunk& chunk, Worker& worker, std::size_t index, std::size_t slot, Poll& poll);
    void add_chunk_sums(std::size_t chunks);
    void finish_sums(const double* rows, std::size_t count, double seed, Poll& poll);
    void sum_again_scaled(const double* rows, std::size_t count, double seed, Poll& poll);

    // The plan. Uniform steps over node indices, all run forward once per call.
    // Lane steps over lane slots, in order (and, backward only, the uniform nodes
    // with lanes and the terms same_part steps add); the first row_steps_ are
    // below the first output and run backward per row.
    Program uniform_;
    Program lanes_;
    std::size_t row_steps_ = 0;
    // The steps whose gradient is the same in every row, run backward once, for
    // one row, in order: lane steps (k), uniform steps (uniform_bit | k).
    std::vector<std::uint32_t> same_order_;
    bool phantom_row_ = false;  // some of them are lane steps
    // Per uniform step: where its terms for operands whose gradient differs per
    // row go in parts_ (one per operand), or none.
    std::vector<std::uint32_t> part_first_;
    std::vector<std::uint8_t> gives_same_;  // per uniform step with parts: also terms to nodes without
    std::size_t part_count_ = 0;
    struct TermsPlan {                       // a parameter summed in registers: its RowTerms from parts_
        std::uint32_t first, before, after;  // term_parts_[first ..): those before, then those after, in order
    };
    std::vector<TermsPlan> terms_plans_;
    std::vector<std::uint32_t> term_parts_;
    std::vector<std::uint32_t> terms_of_;  // per node: its index in terms_plans_ and row_terms_, or none
    std::vector<double> constants_;        // pow_const's exponents
    std::size_t slots_ = 0;  // lane slots: the varying ones, then varying_slots_ ..: uniform nodes with lanes
    std::size_t varying_slots_ = 0;
    std::vector<std::uint32_t> input_slots_;
    std::vector<std::uint32_t> output_places_;  // a lane slot, or uniform_bit | node index
    std::uint32_t first_output_ = 0;            // its node index
    std::uint32_t first_slot_ = none;           // its lane slot if it varies
    std::vector<std::uint32_t> lane_nodes_;     // the uniform nodes with lanes, by slot - varying_slots_
    std::vector<std::uint32_t> lane_leaves_;    // slots of the parameters among them
    std::vector<std::uint32_t> summed_;         // parameters summed into grad_ (in registers, or from lanes)
    std::vector<std::uint32_t> same_leaves_;    // parameters whose gradient is the same in every row
    std::vector<Parameter> leaves_;             // every leaf that is not an input: their data are read per call
    std::vector<Parameter> parameters_;

    // Buffers, kept between calls: no allocation per call but the lanes' growth.
    std::vector<double> data_, grad_, low_;  // per node: uniform values, sums over rows, their rounding errors
    std::vector<RowTerms> row_terms_;        // per terms_plans_
    std::vector<double> parts_;              // per call: the terms the same in every row
    std::vector<std::uint8_t> takes_parts_;  // per node: its gradient differs per row (it takes parts_)
    std::vector<double> same_per_row_;       // per same_leaves_: one row's gradient
    std::vector<double> first_sums_;         // per summed_: the sums before a rerun (overflow)
    std::vector<double> packed_;             // the groups' (lanes_.groups) weights and sums over a chunk
    std::size_t packed_size_ = 0;
    std::unique_ptr<Worker[]> workers_;  // per thread
    std::size_t worker_count_ = 0, worker_doubles_ = 0;
    std::size_t stride_ = 0;
    // Per chunk of a round of round_chunks_ chunks: each summed_ parameter's sum over the chunk's rows and
    // its error, added to grad_ and low_ chunk by chunk, in order, whichever thread ran each chunk.
    std::unique_ptr<double[]> chunk_sums_;
    std::size_t round_chunks_ = 1;
    std::size_t work_per_row_ = 0;  // about how many lane operations a row costs (thread_count)
    std::atomic<std::size_t> buffer_bytes_{0};
};

}  // namespace micrograd::graph_detail
