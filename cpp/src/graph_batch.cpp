// The batch of a Graph (graph_batch.hpp): the passes that plan it from the
// capture, and map's run over the rows.
#include "graph_batch.hpp"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "graph_batch_layer.hpp"
#include "micrograd/ops.hpp"

namespace micrograd::graph_detail {
namespace {

// How a node's gradient differs between rows, below the first output.
enum class RowGradient : std::uint8_t { none, same, per_row };

// Lane buffers hold about this many bytes (data and gradients): a chunk of rows
// small enough to stay in cache, large enough for the loops to pay. Up to 128
// rows a chunk (fewer run the loops too short; 256 is no faster).
constexpr std::size_t chunk_bytes = std::size_t(1) << 20;
constexpr std::size_t max_lanes = max_lanes_per_chunk;
// The chunks' sums wait in a buffer of about this many bytes for their turn to be added (a round).
constexpr std::size_t round_bytes = std::size_t(4) << 20;
// Threads pay above about this many lane operations a call (rows x work_per_row_): each one costs
// some 20-50 us to start and join (bench_graph.py --threads measures it).
constexpr std::size_t thread_work = std::size_t(1) << 20;

}  // namespace

// Who reads each node: the nodes reading it, in order (one entry per operand).
class Consumers {
public:
    explicit Consumers(const Capture& c) : first_(c.size() + 1, 0) {
        for (std::uint32_t o : c.operands)
            ++first_[o + 1];
        for (std::size_t i = 0; i < c.size(); ++i)
            first_[i + 1] += first_[i];
        readers_.resize(c.operands.size());
        std::vector<std::size_t> next(first_.begin(), first_.end() - 1);
        for (std::size_t i = 0; i < c.size(); ++i)
            for (std::size_t k = 0; k < c.operand_count(i); ++k)
                readers_[next[c.operand(i, k)]++] = std::uint32_t(i);
    }
    std::vector<std::uint32_t> of(std::uint32_t o) const {
        return std::vector<std::uint32_t>(readers_.begin() + std::ptrdiff_t(first_[o]),
                                          readers_.begin() + std::ptrdiff_t(first_[o + 1]));
    }
    // True if no node but `reader` reads o from `from` to `to` (both included).
    bool read_only_by(std::uint32_t o, std::uint32_t reader, std::uint32_t from, std::uint32_t to) const {
        const std::uint32_t* end = readers_.data() + first_[o + 1];
        for (const std::uint32_t* r = std::lower_bound(readers_.data() + first_[o], end, from); r < end && *r <= to;
             ++r)
            if (*r != reader) return false;
        return true;
    }

private:
    std::vector<std::size_t> first_;
    std::vector<std::uint32_t> readers_;
};

// Calls f with each operand (place) of a step.
template <class F>
void for_each_operand(const Step& step, const std::vector<std::uint32_t>& args, F f) {
    switch (arity(step.op)) {
        case Arity::leaf: return;
        case Arity::unary:
        case Arity::scalar: f(step.x); return;
        case Arity::binary:
            f(step.x);
            f(step.y);
            return;
        case Arity::local:
        case Arity::custom:  // refused by the capture
        case Arity::nary:
            for (std::uint32_t k = 0; k < step.y; ++k)
                f(args[step.x + k]);
            return;
    }
}

// The constructor's passes and what they hand to one another (per node). Each
// pass reads the capture and what the passes before it found.
struct Batch::Passes {
    Passes(const Capture& capture, Batch& batch) : c(capture), b(batch), consumers(capture) {}

    const Capture& c;
    Batch& b;
    const Consumers consumers;
    std::vector<std::uint8_t> varies;           // its data depend on an input
    std::vector<RowGradient> gradient;          // below the first output
    std::vector<std::uint32_t> row_reads;       // uniform: how many operands of the steps run per row are it
    std::vector<std::uint8_t> has_lanes;        // uniform: its gradient is worked out per row, in lanes
    std::vector<std::uint8_t> read_by_uniform;  // an operand of a uniform step
    std::vector<std::uint32_t> place;           // its lane slot, or uniform_bit | it
    std::vector<std::uint32_t> uniform_step;    // its step in the uniform program, or none
    std::vector<std::uint32_t> uses;            // how many operands are it (outputs: 2 more)
    std::vector<std::uint8_t> chain_top;        // 1: the top of a chain fused into steps; 2: inside one
    std::vector<std::uint8_t> fused;            // computed inside a fused step, with no lane of its own
    std::vector<std::uint32_t> members;         // keeps_order's
    Program proto;                              // the lane steps over node indices
    // The passes' work, a node or step at a time (poll.work(1)): now and then a look for Ctrl-C (the
    // first map of a graph of millions of nodes plans for a second or more, the GIL held).
    // Interrupted: no batch.
    Poll poll;

    void mark_varying();
    void classify_gradients();
    void plan_uniform_steps();
    void place_same_terms();
    void find_chains();
    void emit_lane_steps();
    void order_lane_steps();
    void emit_chain(std::uint32_t top);
    void emit_same_parts(std::uint32_t i);
    bool fusable(std::uint32_t i, Op op) const;
    bool keeps_order(std::uint32_t top);
    void assign_slots();
    void group_layers();
    void plan_sums();

    Step step_for(std::size_t i, const std::vector<std::uint32_t>& operand_place, Program& program) const;
    bool below_first(std::size_t i) const { return i < c.first_graph; }
    bool per_row_uniform(std::size_t i) const { return !varies[i] && gradient[i] == RowGradient::per_row; }
    // A uniform node below the first output whose gradient is worked out in each row (classify_gradients).
    bool in_row_pass(std::size_t i) const {
        return per_row_uniform(i) || (!varies[i] && c.is_leaf(i) && gradient[i] == RowGradient::same &&
                                      row_reads[i] > 0 && !read_by_uniform[i]);
    }
    bool same_uniform_step(std::size_t i) const {
        return below_first(i) && !c.is_leaf(i) && !varies[i] && gradient[i] == RowGradient::same;
    }
};

Batch::Batch(const Capture& c) {
    Passes passes(c, *this);
    passes.mark_varying();
    passes.classify_gradients();
    passes.plan_uniform_steps();
    passes.place_same_terms();
    passes.find_chains();
    passes.emit_lane_steps();
    passes.order_lane_steps();
    passes.assign_slots();
    passes.group_layers();
    passes.plan_sums();
    const std::size_t n = c.size();
    data_.assign(n, 0.0);
    grad_.assign(n, 0.0);
    low_.assign(n, 0.0);
    row_terms_.assign(terms_plans_.size(), RowTerms{});
    parts_.assign(part_count_, 0.0);
    same_per_row_.assign(same_leaves_.size(), 0.0);
    first_sums_.assign(summed_.size(), 0.0);
    packed_.assign(packed_size_, 0.0);
    round_chunks_ = std::max<std::size_t>(8, round_bytes / (2 * sizeof(double) * (summed_.size() + 1)));
    work_per_row_ = lanes_.steps.size() + lanes_.args.size();
}

// What varies per row: the inputs and every node reading something that does.
void Batch::Passes::mark_varying() {
    varies.assign(c.size(), 0);
    for (std::uint32_t i : c.inputs)
        varies[i] = 1;
    for (std::size_t i = 0; i < c.size(); ++i)
        for (std::size_t k = 0; k < c.operand_count(i); ++k)
            varies[i] = std::uint8_t(varies[i] | varies[c.operand(i, k)]);
}

// How each gradient differs between rows, from the first output down (its
// gradient, the seed, is the same in every row): a term is the same in every
// row if its step's gradient is, and its local derivative too (a uniform
// step's always is). Then where each uniform node's gradient is worked out:
//   - once, for one row (same_in_every_row), if it is the same in every row and
//     the node is interior, or read by a uniform step (or the first output);
//   - else in each row, with the varying steps: in lanes if a rebuild adds
//     several terms to it in a row (read twice, or an interior node, whose
//     backward passes its gradient on per row; and the operands of a uniform
//     step with lanes), else its one term summed over the rows in registers.
void Batch::Passes::classify_gradients() {
    const std::size_t n = c.size();
    gradient.assign(n, RowGradient::none);
    row_reads.assign(n, 0);
    has_lanes.assign(n, 0);
    read_by_uniform.assign(n, 0);
    gradient[c.outputs[0]] = RowGradient::same;
    for (std::size_t i = c.first_graph; i-- > 0;) {
        if (c.is_leaf(i)) {
            if (in_row_pass(i) && row_reads[i] >= 2) has_lanes[i] = 1;
            continue;
        }
        const bool lane = varies[i] != 0;
        if (!lane && gradient[i] == RowGradient::per_row) has_lanes[i] = 1;
        for (std::size_t k = 0; k < c.operand_count(i); ++k) {
            const std::uint32_t j = c.operand(i, k);
            const bool per_row =
                gradient[i] == RowGradient::per_row ||
                (lane && derivative_varies(c.node(i).op, c.node(i).test(Node::fold_from_first), k,
                                           [&](std::size_t m) { return varies[c.operand(i, m)] != 0; }));
            if (per_row)
                gradient[j] = RowGradient::per_row;
            else if (gradient[j] == RowGradient::none)
                gradient[j] = RowGradient::same;
            if (!lane) read_by_uniform[j] = 1;
            if (varies[j] || !(lane || has_lanes[i])) continue;
            ++row_reads[j];  // read by a step run per row
            if (has_lanes[i]) has_lanes[j] = 1;
        }
    }
}

// The step computing node i into place[i], its operands read from place[operand].
Step Batch::Passes::step_for(std::size_t i, const std::vector<std::uint32_t>& operand_place, Program& program) const {
    const Node& node = c.node(i);
    Step s{node.op, StepKind::op, std::uint8_t(node.flags & Node::fold_from_first), std::uint32_t(i), 0, 0};
    const std::uint32_t* operands = c.operands_of(i);
    switch (arity(node.op)) {
        case Arity::leaf: break;
        case Arity::unary: s.x = operand_place[operands[0]]; break;
        case Arity::binary:
            s.x = operand_place[operands[0]];
            s.y = operand_place[operands[1]];
            break;
        case Arity::scalar:
            s.x = operand_place[operands[0]];
            s.y = std::uint32_t(b.constants_.size());
            b.constants_.push_back(node.exponent);
            break;
        case Arity::local:
        case Arity::custom:  // refused by the capture
        case Arity::nary:
            s.x = std::uint32_t(program.args.size());
            s.y = std::uint32_t(node.count);
            for (std::size_t k = 0; k < node.count; ++k)
                program.args.push_back(operand_place[operands[k]]);
            break;
    }
    return s;
}

// The uniform steps, over node indices: all run forward once per call. Those
// whose gradient is the same in every row also run backward once, for one row;
// the terms they give operands whose gradient differs per row are kept apart
// (parts_), to be added in each row where a rebuild adds them.
void Batch::Passes::plan_uniform_steps() {
    std::vector<std::uint32_t> identity(c.size());
    for (std::size_t i = 0; i < c.size(); ++i)
        identity[i] = std::uint32_t(i);
    uniform_step.assign(c.size(), none);
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (c.is_leaf(i) || varies[i]) continue;
        uniform_step[i] = std::uint32_t(b.uniform_.steps.size());
        b.uniform_.steps.push_back(step_for(i, identity, b.uniform_));
        std::uint32_t first = none;
        bool gives_same = false;  // to an operand whose gradient is the same in every row
        if (same_uniform_step(i)) {
            for (std::size_t k = 0; k < c.operand_count(i); ++k) {
                if (per_row_uniform(c.operand(i, k)))
                    first = std::uint32_t(b.part_count_);
                else
                    gives_same = true;
            }
            if (first != none) b.part_count_ += c.operand_count(i);
        }
        b.part_first_.push_back(first);
        b.gives_same_.push_back(gives_same);
    }
}

// Where each row's terms that are the same in every row go, for a parameter
// whose one varying term is summed in registers: a rebuild adds those of the
// nodes after that term's in the order first (summed once: their sum from 0),
// then the varying term, then the others one by one. Up to max_terms_after of
// those fit beside the registers; a parameter with more gets lanes, where
// same_part steps add each in turn.
void Batch::Passes::place_same_terms() {
    b.terms_of_.assign(c.size(), none);
    b.takes_parts_.assign(c.size(), 0);
    for (std::size_t i = 0; i < c.first_graph; ++i)
        b.takes_parts_[i] = per_row_uniform(i);
    std::vector<std::uint32_t> before, after;
    for (std::size_t i = 0; i < c.first_graph; ++i) {
        if (!c.is_leaf(i) || !per_row_uniform(i) || has_lanes[i]) continue;
        const std::vector<std::uint32_t> readers = consumers.of(std::uint32_t(i));
        std::uint32_t varying = none;  // the node of its varying term
        for (std::uint32_t r : readers)
            if (below_first(r) && varies[r]) varying = r;
        before.clear();
        after.clear();
        for (std::size_t k = readers.size(); k-- > 0;) {  // the rebuild's order: the last reader first
            const std::uint32_t r = readers[k];
            if (!same_uniform_step(r) || (k + 1 < readers.size() && readers[k + 1] == r)) continue;
            const std::uint32_t first = b.part_first_[uniform_step[r]];
            for (std::size_t j = 0; j < c.operand_count(r); ++j)
                if (c.operand(r, j) == i) (r > varying ? before : after).push_back(first + std::uint32_t(j));
        }
        if (after.size() > max_terms_after) {
            has_lanes[i] = 1;
            continue;
        }
        if (before.empty() && after.empty()) continue;
        b.terms_of_[i] = std::uint32_t(b.terms_plans_.size());
        b.terms_plans_.push_back(
            TermsPlan{std::uint32_t(b.term_parts_.size()), std::uint32_t(before.size()), std::uint32_t(after.size())});
        b.term_parts_.insert(b.term_parts_.end(), before.begin(), before.end());
        b.term_parts_.insert(b.term_parts_.end(), after.begin(), after.end());
    }
}

// Chains of + whose terms are products, each node used once (micrograd's
// neurons, `sum` of a list), become one n-ary step (ops::Dot or ops::Sum from a
// start): their inner nodes need no lanes, the values are those of the chain
// bit for bit. Found from each chain's top down, from the outputs down.
void Batch::Passes::find_chains() {
    const std::size_t n = c.size();
    uses.assign(n, 0);
    for (std::uint32_t operand : c.operands)
        ++uses[operand];
    for (std::uint32_t output : c.outputs)
        uses[output] += 2;  // the outputs' values are read: never fused away
    chain_top.assign(n, 0);
    fused.assign(n, 0);
    for (std::size_t i = n; i-- > 0;) {
        poll.work(1);
        if (!varies[i] || c.node(i).op != Op::add || chain_top[i] != 0) continue;
        // A chain that would not keep the order: its nodes are steps of their own, and none
        // of its adds is tried as the top of a shorter chain (each would walk the rest again:
        // a sum of 40,000 products of one input took 5.5 s to plan).
        const std::uint8_t mark = keeps_order(std::uint32_t(i)) ? 2 : 3;
        if (mark == 2) chain_top[i] = 1;
        for (std::uint32_t cur = std::uint32_t(i); fusable(c.operand(cur, 0), Op::add);) {
            cur = c.operand(cur, 0);
            chain_top[cur] = mark;  // 2: inside a chain
        }
    }
    for (std::uint8_t& t : chain_top)
        if (t == 3) t = 0;
}

bool Batch::Passes::fusable(std::uint32_t i, Op op) const { return varies[i] && c.node(i).op == op && uses[i] == 1; }

// A fused step runs where the chain's top is: each node of the chain gives its
// operands their gradient terms there, not at its own place in the order, and
// a chain of several runs gives them run by run. So a chain is fused only if
// each of its nodes' operands is read by no other node from the chain's first
// node to its top: then every gradient gets its terms in a row in the
// rebuild's order (and values stay bit for bit).
bool Batch::Passes::keeps_order(std::uint32_t top) {
    members.clear();
    for (std::uint32_t cur = top;; cur = c.operand(cur, 0)) {
        members.push_back(cur);
        if (fusable(c.operand(cur, 1), Op::mul)) members.push_back(c.operand(cur, 1));
        if (!fusable(c.operand(cur, 0), Op::add)) break;
    }
    const std::uint32_t first = *std::min_element(members.begin(), members.end());
    for (std::uint32_t m : members)
        for (std::size_t k = 0; k < c.operand_count(m); ++k)
            if (!consumers.read_only_by(c.operand(m, k), m, first, top)) return false;
    return true;
}

// The lane steps over node indices, in order (a chain's at its top): the varying
// nodes, and the uniform nodes with lanes (backward only), and the same_part
// steps of the uniform nodes whose gradient is the same in every row.
void Batch::Passes::emit_lane_steps() {
    std::vector<std::uint32_t> identity(c.size());
    for (std::size_t i = 0; i < c.size(); ++i)
        identity[i] = std::uint32_t(i);
    for (std::size_t i = 0; i < c.size(); ++i) {
        poll.work(1);
        if (c.is_leaf(i) || chain_top[i] == 2) continue;
        if (!varies[i]) {
            if (has_lanes[i]) {  // computed once, differentiated per row
                proto.steps.push_back(step_for(i, identity, proto));
                proto.steps.back().flags = std::uint8_t(proto.steps.back().flags | backward_only);
            }
            if (same_uniform_step(i)) emit_same_parts(std::uint32_t(i));
        } else if (chain_top[i] == 1) {
            emit_chain(std::uint32_t(i));
        } else {
            proto.steps.push_back(step_for(i, identity, proto));
        }
    }
}

// The steps of the chain down from top, ((start + t0) + t1) + ...: a run of
// products is a dot from the run's start, a run of other terms a sum, a single
// other term its add.
void Batch::Passes::emit_chain(std::uint32_t top) {
    std::vector<std::uint32_t> adds, terms;
    for (std::uint32_t cur = top;; cur = c.operand(cur, 0)) {
        adds.push_back(cur);
        terms.push_back(c.operand(cur, 1));
        if (!fusable(c.operand(cur, 0), Op::add)) break;
    }
    std::reverse(adds.begin(), adds.end());
    std::reverse(terms.begin(), terms.end());
    std::uint32_t start = c.operand(adds.front(), 0);
    for (std::size_t j = 0; j < terms.size();) {
        const bool products = fusable(terms[j], Op::mul);
        std::size_t end = j;
        while (end < terms.size() && fusable(terms[end], Op::mul) == products)
            ++end;
        const std::uint32_t out = adds[end - 1];
        if (!products && end - j == 1) {
            proto.steps.push_back(Step{Op::add, StepKind::op, 0, out, start, terms[j]});
        } else {
            Step step{products ? Op::dot : Op::sum,
                      StepKind::op,
                      Node::fold_from_first,
                      out,
                      std::uint32_t(proto.args.size()),
                      0};
            proto.args.push_back(start);
            for (std::size_t k = j; k < end; ++k) {
                if (products) {
                    fused[terms[k]] = 1;  // computed by the fused step only
                    proto.args.push_back(c.operand(terms[k], 0));
                    proto.args.push_back(c.operand(terms[k], 1));
                } else {
                    proto.args.push_back(terms[k]);
                }
            }
            step.y = std::uint32_t(proto.args.size() - step.x);
            proto.steps.push_back(step);
        }
        for (std::size_t k = j; k + 1 < end; ++k)
            fused[adds[k]] = 1;  // inside a run
        start = out;
        j = end;
    }
}

// The lane steps in order, the fused products gone (those below the first
// output come first: backward runs them), and the steps whose gradient is the
// same in every row, in order. The phantom row (Batch::same_in_every_row) runs
// only the lane steps that the gradient of a node worked out once comes from:
// those reading such a node and, up to the output, those reading them.
void Batch::Passes::order_lane_steps() {
    std::vector<std::uint8_t> phantom(c.size(), 0);
    for (std::size_t i = 0; i < c.first_graph; ++i) {
        if (!varies[i] || gradient[i] != RowGradient::same) continue;
        for (std::size_t k = 0; k < c.operand_count(i) && !phantom[i]; ++k) {
            const std::uint32_t o = c.operand(i, k);
            phantom[i] = (!varies[o] && !in_row_pass(o) && gradient[o] == RowGradient::same) || phantom[o];
        }
    }
    std::vector<Step> kept;
    kept.reserve(proto.steps.size());
    std::size_t u = 0;  // the uniform steps whose gradient is the same in every row, merged in by place
    for (const Step& step : proto.steps) {
        poll.work(1);
        if (fused[step.out]) continue;
        if (phantom[step.out] && !(step.flags & backward_only)) {
            for (; u < step.out; ++u)
                if (same_uniform_step(u)) b.same_order_.push_back(uniform_bit | uniform_step[u]);
            b.same_order_.push_back(std::uint32_t(kept.size()));
            b.phantom_row_ = true;
        }
        kept.push_back(step);
        if (below_first(step.out)) b.row_steps_ = kept.size();
    }
    for (; u < c.first_graph; ++u)
        if (same_uniform_step(u)) b.same_order_.push_back(uniform_bit | uniform_step[u]);
    proto.steps.swap(kept);
}

// At uniform node i, whose gradient is the same in every row: a same_part step
// for each operand with lanes, adding i's terms to it (its terms are parts_
// from i's part_first on, one per operand).
void Batch::Passes::emit_same_parts(std::uint32_t i) {
    const std::uint32_t first = b.part_first_[uniform_step[i]];
    if (first == none) return;
    for (std::size_t k = 0; k < c.operand_count(i); ++k) {
        const std::uint32_t o = c.operand(i, k);
        bool seen = false;
        for (std::size_t j = 0; j < k; ++j)
            seen = seen || c.operand(i, j) == o;
        if (!has_lanes[o] || seen) continue;
        Step step{Op::leaf, StepKind::same_part, backward_only, o, std::uint32_t(proto.args.size()), 0};
        for (std::size_t j = k; j < c.operand_count(i); ++j)
            if (c.operand(i, j) == o) proto.args.push_back(first + std::uint32_t(j));
        step.y = std::uint32_t(proto.args.size() - step.x);
        proto.steps.push_back(step);
    }
}

// Lane slots: one per varying node a step writes and per input, then one per
// uniform node with lanes. Every other operand is read as one value.
void Batch::Passes::assign_slots() {
    const std::size_t n = c.size();
    place.assign(n, none);
    for (std::uint32_t i : c.inputs) {
        place[i] = std::uint32_t(b.slots_++);
        b.input_slots_.push_back(place[i]);
    }
    for (const Step& step : proto.steps)
        if (!(step.flags & backward_only)) place[step.out] = std::uint32_t(b.slots_++);
    b.varying_slots_ = b.slots_;
    for (std::size_t i = 0; i < n; ++i) {
        poll.work(1);
        if (has_lanes[i]) {
            place[i] = std::uint32_t(b.slots_++);
            b.lane_nodes_.push_back(std::uint32_t(i));
        } else if (!varies[i]) {
            place[i] = uniform_bit | std::uint32_t(i);
        }
    }
    for (Step step : proto.steps) {
        if (step.kind == StepKind::same_part) {  // its args are indices into parts_
            const std::uint32_t first = std::uint32_t(b.lanes_.args.size());
            b.lanes_.args.insert(b.lanes_.args.end(), proto.args.begin() + step.x,
                                 proto.args.begin() + step.x + step.y);
            step.x = first;
            step.out = place[step.out];
            b.lanes_.steps.push_back(step);
            continue;
        }
        switch (arity(step.op)) {
            case Arity::leaf: break;
            case Arity::unary:
            case Arity::scalar: step.x = place[step.x]; break;
            case Arity::binary:
                step.x = place[step.x];
                step.y = place[step.y];
                break;
            case Arity::local:
            case Arity::custom:  // refused by the capture
            case Arity::nary: {
                const std::uint32_t first = std::uint32_t(b.lanes_.args.size());
                for (std::uint32_t k = 0; k < step.y; ++k)
                    b.lanes_.args.push_back(place[proto.args[step.x + k]]);
                step.x = first;
                break;
            }
        }
        step.out = place[step.out];
        b.lanes_.steps.push_back(step);
    }
    for (Step& step : b.lanes_.steps)  // the kernels that add RowTerms
        if (step.kind == StepKind::op)
            for_each_operand(step, b.lanes_.args, [&](std::uint32_t v) {
                if (!is_uniform(v) || b.terms_of_[node_of(v)] == none) return;
                step.flags = std::uint8_t(step.flags | reads_row_terms);
                if (b.terms_plans_[b.terms_of_[node_of(v)]].before > 0)
                    step.flags = std::uint8_t(step.flags | terms_before);
            });
    for (std::uint32_t o : c.outputs)
        b.output_places_.push_back(varies[o] ? place[o] : uniform_bit | o);
    b.first_output_ = c.outputs[0];
    if (varies[b.first_output_]) b.first_slot_ = place[b.first_output_];
}

// Layers (graph_batch_kernel.hpp's Group): Dot steps whose pairs each read a
// lane slot and a uniform node, the same lane slots in the same order (the
// layer's inputs, each once), each uniform node read by that step alone and
// summed plainly in registers. Run at its first member, a group gives every
// value and gradient the terms its members' steps give them, in the same
// order, where nothing between its first and last member adds to an x_j's
// gradient (a step reading it, or a same_part step into it: its terms would
// come between theirs), each member's start is made before the first member
// (its value forward, and backward its gradient passed on only after the
// group gave it its term: a backward_only step making it counts too) and no
// step between the first and that member adds to the start's gradient, and
// all of them are below the first output or none.
void Batch::Passes::group_layers() {
    if (std::strcmp(layer_kernels().name, "steps") == 0) return;
    Program& lanes = b.lanes_;
    const std::size_t count = lanes.steps.size();
    // The step making each lane slot: it writes the slot's value forward and takes its gradient backward
    // (a backward_only step only the latter: its value is broadcast before the first step).
    std::vector<std::uint32_t> writer(b.slots_, none);
    // The steps adding to each slot's gradient backward: those reading it, and the same_part steps into it.
    std::vector<std::vector<std::uint32_t>> readers(b.slots_);
    for (std::size_t k = 0; k < count; ++k) {
        poll.work(1);
        const Step& s = lanes.steps[k];
        if (s.kind == StepKind::same_part) {  // into a lane, always: a uniform node has no parts
            if (!is_uniform(s.out)) readers[s.out].push_back(std::uint32_t(k));
            continue;
        }
        if (s.kind != StepKind::op) continue;
        writer[s.out] = std::uint32_t(k);
        for_each_operand(s, lanes.args, [&](std::uint32_t v) {
            if (!is_uniform(v) && (readers[v].empty() || readers[v].back() != k))
                readers[v].push_back(std::uint32_t(k));
        });
    }
    auto read_between = [&](std::uint32_t slot, std::uint32_t from, std::uint32_t to, std::uint32_t except) {
        const std::vector<std::uint32_t>& r = readers[slot];  // a reader in (from, to) but except
        for (auto it = std::upper_bound(r.begin(), r.end(), from); it != r.end() && *it < to; ++it)
            if (*it != except) return true;
        return false;
    };
    std::vector<std::uint8_t> seen(c.size(), 0);   // uniform nodes read by some step's pairs
    std::vector<std::uint8_t> in_xs(b.slots_, 0);  // the lane slots of xs, while a step's are read
    struct Open {
        std::vector<std::uint32_t> members;
    };
    std::map<std::vector<std::uint32_t>, Open> open;  // by the x slots
    std::vector<std::uint32_t> xs;
    auto close = [&](const std::vector<std::uint32_t>& x, Open& o) {
        if (o.members.size() >= 2) {
            Group g{std::uint32_t(o.members.size()), std::uint32_t(x.size()), std::uint32_t(lanes.group_args.size()),
                    std::uint32_t(b.packed_size_), 0};
            const std::uint32_t index = std::uint32_t(lanes.groups.size());
            std::vector<std::uint32_t>& a = lanes.group_args;
            a.insert(a.end(), o.members.begin(), o.members.end());
            a.insert(a.end(), x.begin(), x.end());
            for (std::uint32_t k : o.members) {
                const Step& s = lanes.steps[k];
                const std::uint32_t first = s.x + ((s.flags & Node::fold_from_first) ? 1 : 0);
                for (std::uint32_t j = 0; j < g.pairs; ++j) {
                    const std::uint32_t u = lanes.args[first + 2 * j], v = lanes.args[first + 2 * j + 1];
                    const std::uint32_t w = node_of(is_uniform(u) ? u : v);
                    a.push_back(w);
                    if (b.terms_of_[w] == none) continue;
                    const TermsPlan& plan = b.terms_plans_[b.terms_of_[w]];
                    g.terms = std::uint8_t(g.terms | (plan.before > 0 ? 1 : 0) | (plan.after > 0 ? 2 : 0) |
                                           (plan.after > 1 ? 4 : 0));
                }
            }
            for (std::uint32_t k : o.members)
                a.push_back(lanes.steps[k].out);
            for (std::uint32_t k : o.members) {
                const Step& s = lanes.steps[k];
                a.push_back((s.flags & Node::fold_from_first) ? lanes.args[s.x] : none);  // a lane slot, or uniform
            }
            if (lanes.group_of.empty()) lanes.group_of.assign(count, none);
            for (std::uint32_t k : o.members)
                lanes.group_of[k] = in_group;
            lanes.group_of[o.members[0]] = index;
            lanes.groups.push_back(g);
            b.packed_size_ += (g.terms ? 5 : 2) * std::size_t(g.members) * g.pairs + g.members;
        }
        o.members.clear();
    };
    for (std::size_t k = 0; k < count; ++k) {
        poll.work(1);
        const Step& s = lanes.steps[k];
        if (s.kind != StepKind::op || s.op != Op::dot || (s.flags & backward_only)) continue;
        const bool from_first = (s.flags & Node::fold_from_first) != 0;
        const std::uint32_t first = s.x + (from_first ? 1 : 0);
        const std::uint32_t pairs = (s.y - (from_first ? 1 : 0)) / 2;
        if (pairs == 0) continue;
        xs.clear();
        bool fits = true;
        for (std::uint32_t j = 0; j < pairs && fits; ++j) {
            const std::uint32_t u = lanes.args[first + 2 * j], v = lanes.args[first + 2 * j + 1];
            if (is_uniform(u) == is_uniform(v)) {
                fits = false;
                break;
            }
            const std::uint32_t w = node_of(is_uniform(u) ? u : v), x = is_uniform(u) ? v : u;
            fits = !seen[w] && !in_xs[x];  // a mark, not a search of xs: a dot of 40,000 pairs is no square
            in_xs[x] = 1;
            xs.push_back(x);
        }
        const std::uint32_t start = from_first ? lanes.args[s.x] : none;
        const bool lane_start = from_first && !is_uniform(start);
        if (lane_start && in_xs[start]) fits = false;
        for (std::uint32_t x : xs)
            in_xs[x] = 0;
        if (!fits) continue;
        for (std::uint32_t j = 0; j < pairs; ++j) {
            const std::uint32_t u = lanes.args[first + 2 * j], v = lanes.args[first + 2 * j + 1];
            seen[node_of(is_uniform(u) ? u : v)] = 1;
        }
        Open& o = open[xs];
        if (!o.members.empty()) {
            const std::uint32_t head = o.members.front(), last = o.members.back(), here = std::uint32_t(k);
            bool joins = (head < b.row_steps_) == (here < b.row_steps_);
            for (std::uint32_t x : xs)
                joins = joins && !read_between(x, last, here, none);
            if (lane_start)
                joins =
                    joins && (writer[start] == none || writer[start] < head) && !read_between(start, head, here, here);
            if (!joins) close(xs, o);
        }
        if (o.members.empty() && lane_start && writer[start] != none && writer[start] >= k) continue;
        o.members.push_back(std::uint32_t(k));
    }
    for (auto& [x, o] : open)
        close(x, o);
}

// The parameters (the leaves below the first output that are not inputs) and
// how each one's sum over the rows is made: once, times the rows, for a
// gradient the same in every row; else from its lanes or its registers.
void Batch::Passes::plan_sums() {
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (!c.is_leaf(i) || varies[i]) continue;
        const Parameter p{c.order[i], std::uint32_t(i)};
        b.leaves_.push_back(p);
        if (!below_first(i)) continue;
        b.parameters_.push_back(p);
        if (!in_row_pass(i)) {
            b.same_leaves_.push_back(p.index);
            continue;
        }
        b.summed_.push_back(p.index);
        if (has_lanes[i]) b.lane_leaves_.push_back(place[i]);
    }
}

// --- map ------------------------------------------------------------------------

void Batch::load_leaves() {
    for (const Parameter& leaf : leaves_)
        data_[leaf.index] = leaf.node->data;
}

void Batch::store_gradients() {
    for (const Parameter& p : parameters_)
        p.node->grad = p.node->grad + grad_[p.index];
}

Memory Batch::memory(double* data, double* grad, double scale) {
    return Memory{
        data,          grad,  data_.data(), grad_.data(),     low_.data(), terms_of_.data(), row_terms_.data(),
        parts_.data(), scale, nullptr,      constants_.data()};
}

// How many threads run a call of count rows in chunks of width rows (or of the
// lanes already there, if wider: run_chunks takes stride_ rows a chunk).
std::size_t Batch::thread_count(std::size_t count, std::size_t width, std::size_t asked) const {
    // Read once: glibc reads /sys/devices/system/cpu/online on every call (about 10 us, as long as a small map).
    static const std::size_t cores = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    const std::size_t stride = std::max(width, stride_);
    const std::size_t chunks = (count + stride - 1) / stride;
    // More threads than cores make no compute-bound call faster, and each keeps buffers of its own.
    std::size_t threads = std::min(asked ? std::min(asked, cores) : cores, chunks);
    if (count * work_per_row_ < thread_work) threads = 1;  // too little work to pay for a thread
    return std::max<std::size_t>(1, threads);
}

// Lanes of width rows for each of threads workers, and the round's chunk sums.
// May throw (bad_alloc): then nothing changed.
void Batch::ensure_buffers(std::size_t width, std::size_t threads) {
    const std::size_t n = data_.size();
    if (!chunk_sums_) chunk_sums_.reset(new double[2 * round_chunks_ * (summed_.size() + 1)]);
    if (width > stride_ || threads > worker_count_) {
        const std::size_t w = std::max(width, stride_), count = std::max(threads, worker_count_);
        const std::size_t doubles = 2 * slots_ * w + 2 * n + packed_size_ + 1;
        std::unique_ptr<Worker[]> more(new Worker[count]);
        for (std::size_t k = 0; k < count; ++k)
            more[k].memory.reset(new double[doubles]());  // zeros: what padded lanes read first
        workers_ = std::move(more);
        worker_count_ = count;
        worker_doubles_ = doubles;
        stride_ = w;
    }
    buffer_bytes_.store((worker_count_ * worker_doubles_ + 2 * round_chunks_ * (summed_.size() + 1)) * sizeof(double),
                        std::memory_order_relaxed);
}

void Batch::forget_buffers() noexcept {
    // another thread's map may have been changing them: not freed
    if (workers_)
        for (std::size_t k = 0; k < worker_count_; ++k)
            (void)workers_[k].memory.release();
    (void)workers_.release();
    (void)chunk_sums_.release();
    worker_count_ = worker_doubles_ = 0;
    stride_ = 0;
    buffer_bytes_.store(0, std::memory_order_relaxed);
}

std::size_t Batch::plan_bytes() const {
    auto bytes = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
    return bytes(uniform_.steps) + bytes(uniform_.args) + bytes(lanes_.steps) + bytes(lanes_.args) +
           bytes(same_order_) + bytes(part_first_) + bytes(terms_plans_) + bytes(term_parts_) + bytes(terms_of_) +
           bytes(row_terms_) + bytes(constants_) + bytes(input_slots_) + bytes(output_places_) + bytes(lane_nodes_) +
           bytes(lane_leaves_) + bytes(summed_) + bytes(same_leaves_) + bytes(leaves_) + bytes(parameters_) +
           bytes(data_) + bytes(grad_) + bytes(low_) + bytes(parts_) + bytes(takes_parts_) + bytes(gives_same_) +
           bytes(same_per_row_) + bytes(first_sums_) + bytes(lanes_.groups) + bytes(lanes_.group_args) +
           bytes(lanes_.group_of) + bytes(packed_);
}

void Batch::run(const double* rows, std::size_t count, double* out, const MapOptions& options) {
    if (options.backward && (count == 0 || !differentiable()))
        throw std::invalid_argument("map with backward needs a row and a parameter below the first output");
    Memory uniform = memory(data_.data(), grad_.data(), 1.0);
    uniform.args = uniform_.args.data();
    Poll poll;
    forward_steps(uniform_, 0, uniform_.steps.size(), uniform, 1, 1, poll);  // what does not vary: once
    const std::size_t per_lane = 2 * sizeof(double) * (slots_ ? slots_ : 1);
    // Chunks of a multiple of 8 rows (the layers' blocks), but one chunk of fewer rows, its lanes padded.
    std::size_t width = std::min(max_lanes, chunk_bytes / per_lane);
    width = width >= 8 ? width / 8 * 8 : std::max<std::size_t>(1, width);
    if (count < width) width = std::max<std::size_t>(1, (count + 7) / 8 * 8);
    const std::size_t threads = thread_count(count, width, options.threads);
    ensure_buffers(width, threads);
    const double seed = options.reduction == Reduction::mean ? 1.0 / double(count) : 1.0;
    if (options.backward) same_in_every_row(seed, poll);
    pack_groups();
    run_chunks(rows, count, out, options.backward, seed, 1.0, poll, threads);
    if (options.backward) finish_sums(rows, count, seed, poll);
}

// The terms of each row's gradient that are the same in every row, worked out
// once, for one row: the steps whose gradient is the same in every row,
// backward in order, the lane steps over a phantom row (the data of the varying
// nodes are nan there, and never reach what is kept: derivative_varies). The
// parameters whose gradient is wholly that keep one row's; the terms given to
// nodes whose gradient differs per row are kept one by one (parts_).
void Batch::same_in_every_row(double seed, Poll& poll) {
    if (!same_order_.empty() || !same_leaves_.empty()) std::fill(grad_.begin(), grad_.end(), 0.0);
    double* data = workers_[0].memory.get();
    double* grad = data + slots_;  // one lane: stride 1
    if (first_slot_ != none && phantom_row_) {
        std::fill_n(data, varying_slots_, std::numeric_limits<double>::quiet_NaN());
        for (std::size_t k = 0; k < lane_nodes_.size(); ++k)
            data[varying_slots_ + k] = data_[lane_nodes_[k]];
        std::fill_n(grad, slots_, 0.0);
        grad[first_slot_] = seed;
    } else if (first_slot_ == none) {
        grad_[first_output_] = seed;
    }
    Memory lanes = memory(data, grad, 1.0);
    lanes.args = lanes_.args.data();
    Memory uniform = memory(data_.data(), grad_.data(), 1.0);
    uniform.args = uniform_.args.data();
    for (std::size_t k = same_order_.size(); k-- > 0;) {
        const std::uint32_t e = same_order_[k];
        if (!is_uniform(e)) {
            backward_one(lanes_.steps[e], lanes);
        } else if (part_first_[node_of(e)] == none) {
            backward_one(uniform_.steps[node_of(e)], uniform);
        } else {  // its terms one by one: kept for the nodes whose gradient differs per row, added to the others
            const Step& s = uniform_.steps[node_of(e)];
            double* terms = parts_.data() + part_first_[node_of(e)];
            if (s.op == Op::mul) {  // the common one (a regulariser's p * p), inline: operand_terms' binary case
                terms[0] = terms[1] = 0.0;
                ops::Mul::backward(grad_[s.out], data_[s.x], data_[s.y], data_[s.out], terms[0], terms[1]);
            } else {
                operand_terms(s, uniform, terms);
            }
            if (gives_same_[node_of(e)]) {
                const std::size_t count = arity(s.op) == Arity::nary ? s.y : arity(s.op) == Arity::binary ? 2 : 1;
                for (std::size_t j = 0; j < count; ++j) {
                    const std::uint32_t o = arity(s.op) == Arity::nary ? uniform_.args[s.x + j] : j == 0 ? s.x : s.y;
                    if (!takes_parts_[o]) grad_[o] += terms[j];  // in order, as the step itself would
                }
            }
        }
        poll.work(1);
    }
    for (std::size_t k = 0; k < terms_plans_.size(); ++k) {  // in the rebuild's order, as it adds them
        const TermsPlan& plan = terms_plans_[k];
        RowTerms& terms = row_terms_[k];
        terms.before = 0.0;
        for (std::uint32_t j = 0; j < plan.before; ++j)
            terms.before += parts_[term_parts_[plan.first + j]];
        for (std::uint32_t j = 0; j < max_terms_after; ++j)
            terms.after[j] = j < plan.after ? parts_[term_parts_[plan.first + plan.before + j]] : 0.0;
    }
    for (std::size_t k = 0; k < same_leaves_.size(); ++k)
        same_per_row_[k] = grad_[same_leaves_[k]];
    for (std::uint32_t i : summed_)
        grad_[i] = low_[i] = 0.0;
}

// The groups' weights, starts' values and the weights' row terms
// (graph_batch_kernel.hpp's Group) from this call's uniform values, where the
// layer kernels read them.
void Batch::pack_groups() {
    for (const Group& g : lanes_.groups) {
        const std::uint32_t* a = lanes_.group_args.data() + g.first;
        const std::size_t n = g.members, np = std::size_t(g.members) * g.pairs;
        const std::uint32_t* weights = a + n + g.pairs;
        const std::uint32_t* starts = weights + np + n;
        double* packed = packed_.data() + g.packed;
        for (std::size_t k = 0; k < np; ++k)
            packed[k] = data_[weights[k]];
        for (std::size_t k = 0; k < n; ++k)
            packed[2 * np + k] = starts[k] == none || !is_uniform(starts[k]) ? 0.0 : data_[node_of(starts[k])];
        if (!g.terms) continue;
        double* before = packed + 2 * np + n;
        for (std::size_t k = 0; k < np; ++k) {
            const std::uint32_t t = terms_of_[weights[k]];
            const RowTerms terms = t == none ? RowTerms{} : row_terms_[t];
            before[k] = terms.before;
            before[np + k] = terms.after[0];
            before[2 * np + k] = terms.after[1];
        }
    }
}

struct Batch::Chunk {
    const double* rows;
    std::size_t count, stride;
    double* out;
    bool backward;
    double seed, scale;
};

// The rows, a chunk of stride_ at a time, one lane each, split among threads
// (the caller's the one that polls for an interrupt: it stops the others), a
// round of chunks at a time: then the round's sums are added in the chunks'
// order, so that the sums are the same bits whatever the threads. A chunk's
// rows are the inputs transposed into their lanes, the lane steps forward, the
// outputs out (unless null), then backward from the seed, and the sums of the
// parameters with lanes. Each row's gradient terms are multiplied by scale
// before they are summed: a rerun (sum_again_scaled) has one row a chunk.
void Batch::run_chunks(const double* rows, std::size_t count, double* out, bool backward, double seed, double scale,
                       Poll& poll, std::size_t threads) {
    const Chunk chunk{rows, count, scale == 1.0 ? stride_ : 1, out, backward, seed, scale};
    const std::size_t chunks = (count + chunk.stride - 1) / chunk.stride, n = data_.size();
    for (std::size_t k = 0; k < threads; ++k) {
        double* sums = workers_[k].memory.get() + 2 * slots_ * stride_;
        for (std::uint32_t i : summed_)
            sums[i] = sums[n + i] = 0.0;
    }
    for (std::size_t first = 0; first < chunks; first += round_chunks_) {
        const std::size_t last = std::min(chunks, first + round_chunks_), helpers = std::min(threads, last - first) - 1;
        if (helpers == 0) {
            for (std::size_t c = first; c < last; ++c)
                run_chunk(chunk, workers_[0], c, c - first, poll);
        } else {
            run_round(chunk, first, last, helpers, poll);
        }
        if (backward) add_chunk_sums(last - first);
    }
}

namespace {

// What the caller and the helpers of a round share, on the heap: a helper that
// starts late (a busy machine) finds every chunk taken and touches nothing else,
// so the caller waits only for the chunks taken, never for a thread to start.
struct Round {
    std::atomic<std::size_t> next;
    std::size_t last;
    std::atomic<std::size_t> done{0};
    std::mutex mutex;
    std::condition_variable finished;
    Round(std::size_t first, std::size_t end) : next(first), last(end) {}
    void wait_for(std::size_t chunks) {
        std::unique_lock<std::mutex> lock(mutex);
        finished.wait(lock, [&] { return done.load() == chunks; });
    }
};

}  // namespace

// Chunks first .. last by the caller and up to helpers more threads, each
// taking the next chunk left. If the caller's part throws (an interrupt), no
// chunk is taken after it, and the chunks taken finish before it returns.
void Batch::run_round(const Chunk& chunk, std::size_t first, std::size_t last, std::size_t helpers, Poll& poll) {
    auto round = std::make_shared<Round>(first, last);
    auto take = [this, chunk, first](Round& r, std::size_t k, Poll& p) {
        for (std::size_t c; (c = r.next.fetch_add(1)) < r.last;) {
            run_chunk(chunk, workers_[k], c, c - first, p);
            r.done.fetch_add(1);
            const std::lock_guard<std::mutex> lock(r.mutex);
            r.finished.notify_all();
        }
    };
    for (std::size_t k = 1; k <= helpers; ++k) {
        try {
            std::thread([round, take, k] {
                Poll quiet(false);
                take(*round, k, quiet);
            }).detach();
        } catch (...) {  // no thread to be had: fewer run the chunks, the same bits
            break;
        }
    }
    try {
        take(*round, 0, poll);
    } catch (...) {
        const std::size_t taken = std::min(round->next.exchange(last), last) - first;
        round->wait_for(taken - 1);  // all but the caller's own
        throw;
    }
    round->wait_for(last - first);
}

void Batch::run_chunk(const Chunk& chunk, Worker& worker, std::size_t index, std::size_t slot, Poll& poll) {
    const std::size_t stride = chunk.stride, n = data_.size();
    double* data = worker.memory.get();
    double* grad = data + slots_ * stride;
    double* sums = data + 2 * slots_ * stride_;  // per node, then their errors
    Memory m = memory(data, grad, chunk.scale);
    m.uniform_grad = sums;
    m.uniform_low = sums + n;
    m.args = lanes_.args.data();
    m.packed = packed_.data();
    m.sums = sums + 2 * n;
    poll.now();                                           // before each chunk too: a call of few steps over many rows
    for (std::size_t k = 0; k < lane_nodes_.size(); ++k)  // values of the uniform nodes with lanes, broadcast
        std::fill_n(data + (varying_slots_ + k) * stride, stride, data_[lane_nodes_[k]]);
    const std::size_t n_in = input_slots_.size(), n_out = output_places_.size();
    const std::size_t row = index * stride, lanes = std::min(stride, chunk.count - row);
    for (std::size_t k = 0; k < n_in; ++k) {
        double* lane = data + input_slots_[k] * stride;
        for (std::size_t b = 0; b < lanes; ++b)
            lane[b] = chunk.rows[(row + b) * n_in + k];
    }
    forward_steps(lanes_, 0, lanes_.steps.size(), m, stride, lanes, poll);
    if (chunk.out) {
        for (std::size_t j = 0; j < n_out; ++j) {
            const std::uint32_t o = output_places_[j];
            for (std::size_t b = 0; b < lanes; ++b)
                chunk.out[(row + b) * n_out + j] = is_uniform(o) ? data_[node_of(o)] : data[o * stride + b];
        }
    }
    if (!chunk.backward) return;
    std::fill_n(grad, slots_ * stride, 0.0);
    if (first_slot_ != none) std::fill_n(grad + first_slot_ * stride, lanes, chunk.seed);
    // Only the steps below the first output: another output's step would pass on a zero
    // gradient, and 0 * inf is nan.
    backward_steps(lanes_, row_steps_, m, stride, lanes, poll);
    for (std::uint32_t s : lane_leaves_)
        add_lanes_to_uniform(m, lane_nodes_[s - varying_slots_], grad + s * stride, lanes);
    double* kept = chunk_sums_.get() + 2 * slot * summed_.size();
    for (std::size_t j = 0; j < summed_.size(); ++j) {
        const std::uint32_t i = summed_[j];
        kept[2 * j] = sums[i];
        kept[2 * j + 1] = sums[n + i];
        sums[i] = sums[n + i] = 0.0;
    }
}

// The round's chunk sums into grad_ and low_, chunk by chunk, in order: each
// add's rounding error kept (TwoSum), as add_to_uniform keeps it.
void Batch::add_chunk_sums(std::size_t chunks) {
    for (std::size_t c = 0; c < chunks; ++c) {
        const double* kept = chunk_sums_.get() + 2 * c * summed_.size();
        for (std::size_t j = 0; j < summed_.size(); ++j) {
            const std::uint32_t i = summed_[j];
            const double into = grad_[i], s = kept[2 * j];
            const double t = into + s;
            const double s_part = t - into;
            low_[i] += ((into - (t - s_part)) + (s - s_part)) + kept[2 * j + 1];
            grad_[i] = t;
        }
    }
}

// Each parameter's sum over the rows: the registers' and lanes' sums with their
// rounding errors, or count times one row's gradient.
void Batch::finish_sums(const double* rows, std::size_t count, double seed, Poll& poll) {
    bool overflowed = false;
    for (std::uint32_t i : summed_) {
        if (std::isfinite(grad_[i])) grad_[i] += low_[i];
        overflowed = overflowed || !std::isfinite(grad_[i]);
    }
    if (overflowed) sum_again_scaled(rows, count, seed, poll);
    for (std::size_t k = 0; k < same_leaves_.size(); ++k)  // the lane steps' sums into these were not used
        grad_[same_leaves_[k]] = double(count) * same_per_row_[k];
}

// A sum of finite rows that overflowed (they may cancel in a rebuild's order, or
// sum past the largest double only on the way) is taken again over the rows
// scaled by 2**-k, small enough that no partial sum of count of them can
// overflow, one row a chunk (each row's gradient exact, the rows summed with
// their rounding errors kept: rounded once at the end, as the exact sum is),
// then scaled back: inf only where the exact sum is past the largest double,
// or a row's is.
void Batch::sum_again_scaled(const double* rows, std::size_t count, double seed, Poll& poll) {
    const int k = 1 + std::ilogb(double(count)) + 1;  // 2**k > 2 * count
    for (std::size_t j = 0; j < summed_.size(); ++j) {
        first_sums_[j] = grad_[summed_[j]];
        grad_[summed_[j]] = low_[summed_[j]] = 0.0;
    }
    run_chunks(rows, count, nullptr, true, seed, std::ldexp(1.0, -k), poll, 1);
    for (std::size_t j = 0; j < summed_.size(); ++j) {
        const std::uint32_t i = summed_[j];
        if (std::isfinite(first_sums_[j])) {
            grad_[i] = first_sums_[j];
        } else {
            const double scaled = std::isfinite(grad_[i]) ? grad_[i] + low_[i] : grad_[i];
            grad_[i] = std::ldexp(scaled, k);
        }
    }
}

}  // namespace micrograd::graph_detail
