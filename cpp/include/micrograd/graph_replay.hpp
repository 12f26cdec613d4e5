// micrograd::Graph (Python's micrograd_cpp.Graph): a built graph frozen for
// replay, forward and backward on its own nodes, or over a batch of rows.
//
//     Graph g({loss.node()}, {x0.node(), x1.node()});
//     g.forward();   // every node's data recomputed from its leaves'
//     g.backward();  // as micrograd::backward(loss.node())
//     g.map(rows, count, out, {true, Reduction::mean}, caller);  // one lane per row
//
// Capturing it (graph_capture.cpp) freezes the topological order; two plans are
// made from the capture, each owning its state: the node replay
// (graph_nodes.cpp) runs the op structs of ops.hpp over the frozen order on the
// nodes, bit for bit as Value::backward would; the batch (graph_batch.cpp, made
// at the first map) runs the same structs over lanes of rows
// (graph_batch_kernel.cpp). No formula is written twice.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "micrograd/node.hpp"

namespace micrograd {

namespace graph_detail {
class NodeReplay;
class Batch;
}  // namespace graph_detail

enum class Reduction { sum, mean };

struct MapOptions {
    bool backward = false;  // also add d(reduction of the first output)/d(parameter) to each parameter's grad
    Reduction reduction = Reduction::sum;
    // At most this many threads split the rows (0: the machine's cores), where the batch is large enough
    // to pay; the results are the same bits whatever the count.
    std::size_t threads = 0;
};

// What Graph::map asks of its caller between its phases; by default nothing.
class MapCaller {
public:
    // A reference to a callable, which the caller runs at once.
    class Work {
    public:
        template <class F>
        explicit Work(F& f) : run_([](void* callable) { (*static_cast<F*>(callable))(); }), f_(&f) {}
        void operator()() const { run_(f_); }

    private:
        void (*run_)(void*);
        void* f_;
    };
    virtual ~MapCaller() = default;
    // Runs work, which touches no node, only the Graph's own buffers and the
    // rows and outputs given to map: the Python binding lets other threads run
    // meanwhile (it releases the GIL).
    virtual void run_apart(const Work& work) { work(); }
    // The outputs are in `out`, and no gradient has been added yet: the binding
    // converts them here, so that a failure doing so adds none.
    virtual void outputs_ready() {}
};

class Graph {
public:
    // Captures every node reachable from outputs (at least one). inputs: leaves
    // of that graph, each at most once, whose data map() takes per row. Throws
    // std::invalid_argument for an input that is not a leaf of the graph or is
    // given twice. Holds a reference to each output, and so to the whole graph.
    Graph(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs);
    ~Graph();
    Graph(const Graph&) = delete;
    Graph& operator=(const Graph&) = delete;

    // These read only what the capture fixed, and an atomic count of the
    // buffers' bytes: safe from any thread while another runs forward,
    // backward or map.
    std::size_t size() const { return order_.size(); }
    std::size_t input_count() const { return inputs_.size(); }
    std::size_t output_count() const { return outputs_.size(); }
    Node* output(std::size_t i) const { return order_[outputs_[i]]; }
    Node* input(std::size_t i) const { return order_[inputs_[i]]; }
    std::size_t memory_bytes() const;  // what the Graph holds beside the nodes

    // --- the node replay ---
    // Recomputes the data of every captured node from its leaves' current
    // data; returns the first output's. Interrupted (interrupt.hpp), each
    // node's data is as before or recomputed.
    double forward();
    // micrograd::backward(first output), without walking the graph again:
    // leaf gradients accumulate (exactly: each call's sum is added once),
    // interior ones are set. Uses every node's current data. Interrupted, no
    // leaf's gradient has changed (interior ones may be partly set).
    void backward();

    // --- the inputs, fed one sample at a time (forward(inputs) in Python) ---
    // Feeds every input at once: input k takes numbers[k] as its data, or, if
    // sources and sources[k] are not null, stands for the leaf sources[k] until
    // the next feed: each forward() copies that leaf's data into it, and each
    // backward() adds its gradient to that leaf's grad instead of its own (an
    // embedding lookup's gather and scatter; a leaf fed to several inputs gets
    // the sum of their gradients). Checks everything first, changing nothing
    // when it throws: std::invalid_argument for a source that is not a leaf, or
    // is an input of this graph. Holds a reference to each source while fed.
    void feed(const double* numbers, Node* const* sources);
    // The source input k stands for, or null.
    Node* fed(std::size_t k) const { return fed_[k]; }
    // d(first output)/d(input k) as the last backward() computed it (that
    // call's alone: not accumulated), for every input, into out; false (out
    // untouched) when no backward() ran since the Graph was made or since the
    // last forward() or feed().
    bool input_gradients(double* out) const;

    // --- the batch (planned at the first map: a Graph only replayed on its
    // nodes holds no more than the node replay) ---
    // True if the first output depends on a leaf that is not an input (so that
    // map() with backward has a gradient to give).
    bool differentiable() const { return differentiable_; }
    // For each of `count` rows (rows: count x input_count, row-major), the
    // outputs' values into out (count x output_count), as the graph built anew
    // for that row computes them. With options.backward (count >= 1), adds to
    // the grad of each leaf that is not an input (the parameters) the sum over
    // the rows of d(first output)/d(leaf) for that row (with mean, divided by
    // count): each row's gradient as a rebuild's backward computes it, summed
    // over the rows with their rounding errors kept, finite wherever the exact
    // sum is. Reads the parameters' data first and writes their gradients last
    // (the nodes are touched only then); the work in between runs inside
    // caller.run_apart, then caller.outputs_ready() runs. One call per Graph at
    // a time. Out of memory, interrupted, or a throw from the caller: no
    // gradient has changed.
    void map(const double* rows, std::size_t count, double* out, const MapOptions& options, MapCaller& caller);
    // After fork() in a child, where another thread's map left the buffers
    // half-changed: drops them without freeing (they may be inconsistent).
    void forget_buffers() noexcept;

private:
    std::vector<Node*> order_;  // topological, as captured
    std::vector<std::uint32_t> inputs_, outputs_;
    bool differentiable_ = false;
    std::unique_ptr<graph_detail::NodeReplay> nodes_;
    std::vector<Node*> fed_;           // per input, the leaf it stands for (a reference held), or null
    std::vector<double> input_grads_;  // the last backward()'s d(first output)/d(input)
    bool input_grads_valid_ = false;
    std::size_t replay_bytes_ = 0;  // what the capture and the node replay hold: fixed
    std::unique_ptr<graph_detail::Batch> batch_;
    std::atomic<const graph_detail::Batch*> batch_made_{nullptr};  // for memory_bytes() from any thread
};

}  // namespace micrograd
