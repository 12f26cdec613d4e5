// Capturing a Tape: the frozen order, the codes of the replay on the nodes
// (tape_nodes.cpp) and the programs of the batch (tape_batch.cpp).
#include "micrograd/tape.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "micrograd/graph.hpp"
#include "micrograd/ops.hpp"
#include "tape_internal.hpp"

namespace micrograd {

using namespace tape_detail;

Tape::Tape(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs) {
    if (outputs.empty()) throw std::invalid_argument("a graph needs at least one output");
    nodes_ = topological_order(outputs.data(), outputs.size());
    const std::size_t n = nodes_.size();
    if (n >= uniform_bit) throw std::invalid_argument("a graph of more than 2**31 - 1 nodes");

    // Each node's operands as node indices (CSR). The index of a node is kept in
    // its own grad slot while they are read (its grad saved and put back, with
    // no allocation in between): no hash table for 10 million nodes.
    std::vector<std::size_t> first_operand(n + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t count = 0;
        nodes_[i]->for_each_child([&count](Node*) { ++count; });
        first_operand[i + 1] = first_operand[i] + count;
    }
    std::vector<std::uint32_t> operands(first_operand[n]);
    std::vector<double> saved(n);
    std::vector<std::uint32_t> input_index(inputs.size(), none);
    outputs_.reserve(outputs.size());
    for (std::size_t i = 0; i < n; ++i) {
        saved[i] = nodes_[i]->grad;
        nodes_[i]->grad = double(i);  // exact: i < 2**32
        nodes_[i]->set(Node::visited, true);
    }
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t k = first_operand[i];
        nodes_[i]->for_each_child([&](Node* child) { operands[k++] = std::uint32_t(child->grad); });
    }
    for (std::size_t k = 0; k < inputs.size(); ++k)
        if (inputs[k]->test(Node::visited)) input_index[k] = std::uint32_t(inputs[k]->grad);
    for (Node* output : outputs)
        outputs_.push_back(std::uint32_t(output->grad));
    for (std::size_t i = 0; i < n; ++i) {
        nodes_[i]->grad = saved[i];
        nodes_[i]->set(Node::visited, false);
    }
    std::vector<double>().swap(saved);

    first_graph_ = std::size_t(outputs_[0]) + 1;  // the walk emits the first output's graph first, itself last

    varies_.assign(n, 0);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        const std::uint32_t i = input_index[k];
        if (i == none) throw std::invalid_argument("input " + std::to_string(k) + " is not a node of the graph");
        if (!nodes_[i]->is_leaf()) {
            throw std::invalid_argument("input " + std::to_string(k) + " is not a leaf (it was made by an op)");
        }
        if (varies_[i]) throw std::invalid_argument("input " + std::to_string(k) + " is given twice");
        varies_[i] = 1;
        inputs_.push_back(i);
    }

    // The replay on the nodes: the order, split into leaves and the rest.
    for (std::size_t i = 0; i < n; ++i) {
        if (nodes_[i]->is_leaf()) {
            leaves_.push_back(std::uint32_t(i));
            if (i < first_graph_) {
                ++first_leaves_;
                if (!varies_[i]) parameters_.push_back(std::uint32_t(i));
            }
        } else {
            interior_.push_back(nodes_[i]);
            if (i < first_graph_) ++first_interior_;
        }
    }
    saved_grads_.resize(first_leaves_);

    // Each interior node's last consumer below the first output: the first step
    // of backward() to add to its gradient, which zeroes it first.
    codes_.assign(interior_.size(), 0);
    {
        std::vector<std::uint32_t> last(first_graph_, none);
        for (std::size_t i = 0; i < first_graph_; ++i)
            for (std::size_t k = first_operand[i]; k < first_operand[i + 1]; ++k)
                last[operands[k]] = std::uint32_t(i);
        for (std::size_t i = 0, step = 0; i < first_graph_; ++i) {
            if (nodes_[i]->is_leaf()) continue;
            std::uint8_t flags = 0;
            const bool nary = arity(nodes_[i]->op) == Arity::nary;
            if (nary) zero_operands_.push_back(nullptr);
            for (std::size_t k = first_operand[i]; k < first_operand[i + 1]; ++k) {
                const std::uint32_t j = operands[k];
                if (nodes_[j]->is_leaf() || last[j] != i) continue;
                last[j] = none;  // once, if the node uses it twice
                if (nary) {
                    flags = zero_listed;
                    zero_operands_.push_back(nodes_[j]);
                } else {
                    flags = std::uint8_t(flags | (k == first_operand[i] ? zero_lhs : zero_rhs));
                }
            }
            if (nary && flags == 0) zero_operands_.pop_back();
            codes_[step++] = flags;
        }
    }

    // Runs of a neuron's sum, (((s + p1) + p2) + ...): adds in a row in the
    // order (the walk emits the terms first), each the left operand of the
    // next. The replay runs them in one loop, the sum in a register. A term may
    // not be an add of its own run (so that the running gradient is each add's
    // whole gradient), and a run stays on one side of the first output's graph
    // (backward runs only that side).
    {
        std::vector<std::uint32_t> index;  // node index of each interior step
        index.reserve(interior_.size());
        for (std::size_t i = 0; i < n; ++i)
            if (!nodes_[i]->is_leaf()) index.push_back(std::uint32_t(i));
        auto lhs = [&](std::uint32_t i) { return operands[first_operand[i]]; };
        auto rhs = [&](std::uint32_t i) { return operands[first_operand[i] + 1]; };
        auto starts = [&](std::size_t k) {  // a run may start at step k
            const std::uint32_t i = index[k];
            return nodes_[i]->op == Op::add && lhs(i) != rhs(i);
        };
        // Step k may join the run from step start: it exists and is on the same side.
        auto may_join = [&](std::size_t k, std::size_t start) {
            return k < index.size() && (k < first_interior_) == (start < first_interior_);
        };
        // An operand j of the step after the run's last is one of the run's steps:
        // every interior node from the run's first on is (operands come before
        // their step, and the run holds every step in between).
        auto in_run = [&](std::uint32_t j, std::size_t start) { return j >= index[start] && !nodes_[j]->is_leaf(); };
        auto continues = [&](std::size_t k, std::size_t start) {  // step k continues the run from start
            if (!may_join(k, start)) return false;
            const std::uint32_t i = index[k];
            return nodes_[i]->op == Op::add && lhs(i) == index[k - 1] && !in_run(rhs(i), start);
        };
        // Else runs of one binary op whose steps read no node of their own run
        // (a layer's products): one dispatch for the run, each step reading memory.
        auto independent = [&](std::size_t k, std::size_t start) {
            if (!may_join(k, start)) return false;
            const std::uint32_t i = index[k];
            return nodes_[i]->op == nodes_[index[start]]->op && !in_run(lhs(i), start) && !in_run(rhs(i), start);
        };
        for (std::size_t k = 0; k < index.size();) {
            std::size_t end = k + 1;
            std::uint8_t kind = 0;
            if (starts(k)) {
                while (continues(end, k))
                    ++end;
                kind = sum_run;
            }
            if (end - k < 2 && arity(nodes_[index[k]]->op) == Arity::binary) {
                end = k + 1;
                while (independent(end, k))
                    ++end;
                kind = independent_run;
            }
            if (end - k >= 2) {
                codes_[k] = std::uint8_t(codes_[k] | run_start | kind);
                codes_[end - 1] = std::uint8_t(codes_[end - 1] | run_end | kind);
                runs_.push_back(std::uint32_t(end - k));
                if (k < first_interior_) first_runs_ = runs_.size();
            }
            k = end;
        }
    }

    // The batch: what varies per row, the lane slots, the two programs.
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = first_operand[i]; k < first_operand[i + 1]; ++k)
            varies_[i] = std::uint8_t(varies_[i] | varies_[operands[k]]);
    std::vector<std::uint32_t> identity(n);  // the uniform steps work on node indices
    for (std::size_t i = 0; i < n; ++i)
        identity[i] = std::uint32_t(i);
    for (std::size_t i = 0; i < n; ++i) {
        if (nodes_[i]->is_leaf() || varies_[i]) continue;
        uniform_.steps.push_back(
            step_for(nodes_[i], std::uint32_t(i), operands.data() + first_operand[i], identity, uniform_));
        if (i < first_graph_) first_uniform_steps_ = uniform_.steps.size();
    }

    // The varying steps, first over node indices. Chains of + whose terms are
    // products, each node used once (micrograd's neurons, `sum` of a list), are
    // fused into one n-ary step (ops::Dot or ops::Sum from a start): their
    // inner nodes need no lanes, the values are those of the chain bit for bit.
    std::vector<std::uint32_t> uses(n, 0);
    for (std::uint32_t operand : operands)
        ++uses[operand];
    for (std::uint32_t output : outputs_)
        uses[output] += 2;  // the outputs' values are read: never fused away
    std::vector<std::uint8_t> fused(n, 0);
    auto fusable = [&](std::uint32_t i, Op op) { return varies_[i] && nodes_[i]->op == op && uses[i] == 1; };
    auto operand = [&](std::uint32_t i, std::size_t k) { return operands[first_operand[i] + k]; };
    Program proto;
    std::vector<std::uint32_t> chain_adds, chain_terms;
    auto emit_chain = [&](std::uint32_t top) {
        chain_adds.clear();
        chain_terms.clear();
        std::uint32_t cur = top;
        for (;;) {  // down the left operands: ((start + t0) + t1) + ...
            chain_adds.push_back(cur);
            chain_terms.push_back(operand(cur, 1));
            const std::uint32_t left = operand(cur, 0);
            if (!fusable(left, Op::add)) break;
            cur = left;
        }
        std::reverse(chain_adds.begin(), chain_adds.end());
        std::reverse(chain_terms.begin(), chain_terms.end());
        std::uint32_t start = operand(chain_adds.front(), 0);
        for (std::size_t j = 0; j < chain_terms.size();) {  // runs of products, runs of other terms
            const bool products = fusable(chain_terms[j], Op::mul);
            std::size_t end = j;
            while (end < chain_terms.size() && fusable(chain_terms[end], Op::mul) == products)
                ++end;
            const std::uint32_t out = chain_adds[end - 1];
            if (!products && end - j == 1) {  // one term: the add itself
                proto.steps.push_back(Step{Op::add, 0, out, start, chain_terms[j]});
            } else {
                Step step{products ? Op::dot : Op::sum, Node::fold_from_first, out, std::uint32_t(proto.args.size()),
                          0};
                proto.args.push_back(start);
                for (std::size_t k = j; k < end; ++k) {
                    if (products) {
                        fused[chain_terms[k]] = 1;
                        proto.args.push_back(operand(chain_terms[k], 0));
                        proto.args.push_back(operand(chain_terms[k], 1));
                    } else {
                        proto.args.push_back(chain_terms[k]);
                    }
                }
                step.y = std::uint32_t(proto.args.size() - step.x);
                proto.steps.push_back(step);
            }
            for (std::size_t k = j; k + 1 < end; ++k)
                fused[chain_adds[k]] = 1;  // inside a run: computed by the fused step only
            start = out;
            j = end;
        }
    };
    std::vector<std::uint8_t> chain_top(n, 0);
    for (std::size_t i = n; i-- > 0;) {  // from the outputs down, so that a chain is found from its top
        if (!varies_[i] || nodes_[i]->op != Op::add || chain_top[i] == 2) continue;
        chain_top[i] = 1;
        for (std::uint32_t cur = std::uint32_t(i); fusable(operand(cur, 0), Op::add);) {
            cur = operand(cur, 0);
            chain_top[cur] = 2;  // inside a chain
        }
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (nodes_[i]->is_leaf() || !varies_[i] || chain_top[i] == 2) continue;
        if (chain_top[i] == 1) {
            emit_chain(std::uint32_t(i));
        } else {
            proto.steps.push_back(
                step_for(nodes_[i], std::uint32_t(i), operands.data() + first_operand[i], identity, proto));
        }
    }
    // Emitting a chain's steps at its top keeps topological order; a product
    // fused into a chain is emitted nowhere else.
    std::vector<Step> kept;
    kept.reserve(proto.steps.size());
    for (const Step& step : proto.steps) {
        if (fused[step.out]) continue;
        kept.push_back(step);
        if (step.out < first_graph_) first_lane_steps_ = kept.size();  // those below the first output come first
    }
    proto.steps.swap(kept);

    // Lane slots: one per varying node a step writes (and per input). A uniform
    // operand is read as one value (uniform_bit and its node index).
    slot_.assign(n, none);
    for (std::uint32_t i : inputs_)
        slot_[i] = std::uint32_t(slots_++);
    for (const Step& step : proto.steps)
        slot_[step.out] = std::uint32_t(slots_++);
    auto place = [&](std::uint32_t i) {
        if (varies_[i]) return slot_[i];
        if (slot_[i] == none) {  // a uniform node, first read by a lane step: its gradients are summed
            slot_[i] = uniform_bit | i;
            uniform_operands_.push_back(i);
        }
        return slot_[i];
    };
    for (Step step : proto.steps) {
        switch (arity(step.op)) {
            case Arity::leaf: break;
            case Arity::unary:
            case Arity::scalar: step.x = place(step.x); break;
            case Arity::binary:
                step.x = place(step.x);
                step.y = place(step.y);
                break;
            case Arity::nary: {
                const std::uint32_t first = std::uint32_t(lanes_.args.size());
                for (std::uint32_t k = 0; k < step.y; ++k)
                    lanes_.args.push_back(place(proto.args[step.x + k]));
                step.x = first;
                break;
            }
        }
        step.out = slot_[step.out];
        lanes_.steps.push_back(step);
    }

    data_.assign(n, 0.0);
    grad_.assign(n, 0.0);
    grad_low_.assign(n, 0.0);
    std::size_t retained = 0;  // last: nothing above may throw with the references taken
    try {
        for (; retained < outputs.size(); ++retained)
            retain(outputs[retained]);
    } catch (...) {
        while (retained > 0)
            release(outputs[--retained]);  // never the last reference: the caller holds each
        throw;
    }
}

Tape::~Tape() {
    for (std::uint32_t output : outputs_)
        release(nodes_[output]);
}

// The step computing node (whose operands have node indices `operands`) into
// place[out], its operands read from place[operand].
Tape::Step Tape::step_for(const Node* node, std::uint32_t out, const std::uint32_t* operands,
                          const std::vector<std::uint32_t>& place, Program& program) {
    Step s{node->op, std::uint8_t(node->flags & Node::fold_from_first), out, 0, 0};
    switch (arity(node->op)) {
        case Arity::leaf: break;
        case Arity::unary: s.x = place[operands[0]]; break;
        case Arity::binary:
            s.x = place[operands[0]];
            s.y = place[operands[1]];
            break;
        case Arity::scalar:
            s.x = place[operands[0]];
            s.y = std::uint32_t(constants_.size());
            constants_.push_back(node->exponent);
            break;
        case Arity::nary:
            s.x = std::uint32_t(program.args.size());
            s.y = std::uint32_t(node->count);
            for (std::size_t k = 0; k < node->count; ++k)
                program.args.push_back(place[operands[k]]);
            break;
    }
    return s;
}

std::size_t Tape::memory_bytes() const {
    auto bytes = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
    const Program* programs[] = {&lanes_, &uniform_};
    std::size_t total = bytes(nodes_) + bytes(interior_) + bytes(saved_grads_) + bytes(codes_) + bytes(runs_) +
                        bytes(zero_operands_) + bytes(outputs_) + bytes(inputs_) + bytes(leaves_) + bytes(constants_) +
                        bytes(varies_) + bytes(slot_) + bytes(parameters_) + bytes(data_) + bytes(grad_) +
                        bytes(grad_low_) + bytes(uniform_operands_) + bytes(lane_data_) + bytes(lane_grad_);
    for (const Program* p : programs)
        total += bytes(p->steps) + bytes(p->args);
    return total;
}

}  // namespace micrograd
