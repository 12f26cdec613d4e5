// How close Graph's replay on the nodes comes to what the memory allows: on
// micrograd's demo loss over 1,500 points (an MLP(2, [16, 16, 1]) per point,
// ~970,000 nodes, ~47 MB of nodes: more than the last-level cache), the time of
// Graph::forward + Graph::backward per node, beside the time of two passes that
// only read and write each node's cache lines in the same order (forward, then
// backward) and compute nothing. Built with the core's tests (the core-tests
// preset); run build/core-tests/cpp/bench/micrograd_replay_floor.
#include <cstdio>
#include <optional>
#include <random>
#include <vector>

#include "best_time.hpp"
#include "micrograd/fused.hpp"
#include "micrograd/graph_replay.hpp"
#include "micrograd/value.hpp"

namespace {

using micrograd::Node;
using micrograd::Op;
using micrograd::Value;

void prefetch(const Node* node) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(node);
    __builtin_prefetch(reinterpret_cast<const char*>(node) + sizeof(Node) - 1);
#else
    (void)node;
#endif
}

// Reads x and writes it back, as the replay does, in a way the compiler may
// not drop.
void load_and_store(double& x) {
    double v = x;
#if defined(__GNUC__) || defined(__clang__)
    asm volatile("" : "+m"(v));
#else
    v += 0.0;
#endif
    x = v;
}

// One neuron over inputs x, its weights then its bias at w[0 .. x.size()].
Value neuron(const Value* w, const std::vector<Value>& x, std::optional<Op> activation) {
    std::vector<Node*> weights, inputs;
    for (std::size_t k = 0; k < x.size(); ++k) {
        weights.push_back(w[k].node());
        inputs.push_back(x[k].node());
    }
    return micrograd::neuron(weights.data(), inputs.data(), x.size(), w[x.size()].node(), activation);
}

}  // namespace

int main() {
    std::mt19937 rng(1);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    std::vector<Value> w1, w2, w3;  // MLP(2, [16, 16, 1])
    for (int i = 0; i < 16 * 3; ++i)
        w1.emplace_back(uniform(rng));
    for (int i = 0; i < 16 * 17; ++i)
        w2.emplace_back(uniform(rng));
    for (int i = 0; i < 17; ++i)
        w3.emplace_back(uniform(rng));
    Value total(0.0);
    for (int point = 0; point < 1500; ++point) {
        const std::vector<Value> x{Value(uniform(rng)), Value(uniform(rng))};
        std::vector<Value> h1, h2;
        for (int j = 0; j < 16; ++j)
            h1.push_back(neuron(&w1[std::size_t(3 * j)], x, Op::relu));
        for (int j = 0; j < 16; ++j)
            h2.push_back(neuron(&w2[std::size_t(17 * j)], h1, Op::relu));
        const Value score = neuron(w3.data(), h2, std::nullopt);
        total = total + micrograd::relu(1.0 - (point % 2 ? 1.0 : -1.0) * score);  // the hinge loss
    }

    micrograd::Graph graph({total.node()}, {});
    std::vector<Node*> interior;
    for (Node* node : micrograd::topological_order(total.node()))
        if (!node->is_leaf()) interior.push_back(node);
    const double nodes = double(graph.size());
    const double replay = best_seconds(
        [&] {
            graph.forward();
            graph.backward();
        },
        15);
    const double touch = best_seconds(
        [&] {
            const std::size_t n = interior.size();
            for (std::size_t k = 0; k < n; ++k) {
                if (k + 128 < n) prefetch(interior[k + 128]);
                load_and_store(interior[k]->data);  // a load and a store, as forward's
            }
            for (std::size_t k = n; k-- > 0;) {
                if (k >= 128) prefetch(interior[k - 128]);
                load_and_store(interior[k]->grad);  // and backward's
            }
        },
        15);
    std::printf(
        "%.0f nodes: Graph forward + backward %.2f ns per node; touching each node's lines in the\n"
        "same order, forward then backward, computing nothing: %.2f ns per node\n",
        nodes, replay * 1e9 / nodes, touch * 1e9 / nodes);
    return 0;
}
