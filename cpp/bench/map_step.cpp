// Graph::map on micrograd's demo step, without Python: MLP(2, [16, 16, 1]), one
// sample's hinge loss plus 1e-4 L2 as the first output, 100 rows, backward with
// the mean; and the same graph without the L2 term, and forward only. Best of
// many runs, microseconds per call. Built with the core's tests (the core-tests
// preset); run build/core-tests/cpp/bench/micrograd_map_step [runs]. On a busy
// machine count instructions instead: valgrind --tool=callgrind with few runs
// (micrograd_map_step RUNS l2|hinge|chain runs that graph alone). Last, one row
// through a chain of 100,000 nodes: the kernel with one lane, each step waiting
// for the one before.
// benchmarks/bench_graph.py measures the same step from Python, beside PyTorch.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "best_time.hpp"
#include "micrograd/fused.hpp"
#include "micrograd/graph_replay.hpp"
#include "micrograd/value.hpp"

namespace {

using micrograd::Node;
using micrograd::Op;
using micrograd::Value;

template <class F>
double best_microseconds(F f, int runs) {
    return best_seconds(f, runs) * 1e6;
}

Value neuron(const Value* w, const std::vector<Value>& x, std::optional<Op> activation) {
    std::vector<Node*> weights, inputs;
    for (std::size_t k = 0; k < x.size(); ++k) {
        weights.push_back(w[k].node());
        inputs.push_back(x[k].node());
    }
    return micrograd::neuron(weights.data(), inputs.data(), x.size(), w[x.size()].node(), activation);
}

}  // namespace

int main(int argc, char** argv) {
    const int runs = argc > 1 ? std::atoi(argv[1]) : 20000;
    std::mt19937 rng(1);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    std::vector<Value> params;  // MLP(2, [16, 16, 1]): 3 * 16 + 17 * 16 + 17 weights and biases
    for (int i = 0; i < 16 * 3 + 16 * 17 + 17; ++i)
        params.emplace_back(uniform(rng));
    const std::vector<Value> x{Value(0.0), Value(0.0)};
    const Value t(0.0);
    std::vector<Value> h1, h2;
    for (int j = 0; j < 16; ++j)
        h1.push_back(neuron(&params[std::size_t(3 * j)], x, Op::relu));
    for (int j = 0; j < 16; ++j)
        h2.push_back(neuron(&params[std::size_t(48 + 17 * j)], h1, Op::relu));
    const Value score = neuron(&params[48 + 272], h2, std::nullopt);
    const Value hinge = micrograd::relu(1.0 + -t * score);
    std::vector<Value> squares;
    for (const Value& p : params)
        squares.push_back(p * p);
    const Value loss = hinge + 1e-4 * micrograd::sum(squares);

    std::vector<double> rows;
    for (int r = 0; r < 100; ++r)
        rows.insert(rows.end(), {uniform(rng), uniform(rng), r % 2 ? 1.0 : -1.0});
    std::vector<double> out(100);
    micrograd::MapCaller caller;
    const std::vector<Node*> inputs{x[0].node(), x[1].node(), t.node()};
    const std::string only = argc > 2 ? argv[2] : "";  // "l2", "hinge" or "chain": that graph alone
    for (const Value* first : {&loss, &hinge}) {
        if (!only.empty() && (only != "l2" || first != &loss) && (only != "hinge" || first != &hinge)) continue;
        micrograd::Graph graph({first->node()}, inputs);
        const double backward = best_microseconds(
            [&] {
                graph.map(rows.data(), 100, out.data(), {true, micrograd::Reduction::mean}, caller);
            },
            runs);
        const double forward = best_microseconds(
            [&] {
                graph.map(rows.data(), 100, out.data(), {false, {}}, caller);
            },
            runs);
        std::printf("map over 100 rows, %s: backward %.2f us, forward only %.2f us (%zu nodes)\n",
                    first == &loss ? "hinge + L2" : "hinge alone", backward, forward, graph.size());
    }
    if (only.empty() || only == "chain") {  // one row through a chain of 100,000 nodes: the kernel's latency
        Value cx(0.5), cw(1.0 + 1e-9), cb(1e-9);
        Value y = cx;
        for (int k = 0; k < 50000; ++k)
            y = y * cw + cb;
        micrograd::Graph graph({y.node()}, {cx.node()});
        const double one_row[] = {0.5};
        double chain_out = 0.0;
        const double us = best_microseconds(
            [&] {
                graph.map(one_row, 1, &chain_out, {true, micrograd::Reduction::sum}, caller);
            },
            runs / 100 + 1);
        std::printf("map of one row through a chain: %.2f ns per node\n", us * 1e3 / double(graph.size()));
    }
    return 0;
}
