// micrograd::Graph (graph_replay.hpp): the capture, and the two plans made from it.
#include "micrograd/graph_replay.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "graph_batch.hpp"
#include "graph_capture.hpp"
#include "graph_nodes.hpp"
#include "micrograd/interrupt.hpp"

namespace micrograd {

using graph_detail::Batch;
using graph_detail::NodeReplay;

Graph::Graph(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs) {
    graph_detail::Capture c = graph_detail::capture(outputs, inputs);
    nodes_ = std::make_unique<NodeReplay>(c);
    std::vector<bool> is_input(c.size(), false);
    for (std::uint32_t i : c.inputs)
        is_input[i] = true;
    for (std::size_t i = 0; i < c.first_graph && !differentiable_; ++i)
        differentiable_ = c.is_leaf(i) && !is_input[i];
    order_ = std::move(c.order);
    inputs_ = std::move(c.inputs);
    outputs_ = std::move(c.outputs);
    fed_.assign(inputs_.size(), nullptr);
    input_grads_.assign(inputs_.size(), 0.0);
    auto bytes = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
    replay_bytes_ =
        bytes(order_) + bytes(inputs_) + bytes(outputs_) + bytes(fed_) + bytes(input_grads_) + nodes_->bytes();
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

Graph::~Graph() {
    for (Node* source : fed_)
        if (source) release(source);
    for (std::uint32_t output : outputs_)
        release(order_[output]);
}

std::size_t Graph::memory_bytes() const {
    const Batch* batch = batch_made_.load(std::memory_order_acquire);  // made whole, and never changed since
    return replay_bytes_ + (batch ? batch->plan_bytes() + batch->buffer_bytes() : 0);
}

double Graph::forward() {
    input_grads_valid_ = false;
    for (std::size_t k = 0; k < fed_.size(); ++k)  // the gather: no source is an input (feed)
        if (fed_[k]) input(k)->data = fed_[k]->data;
    nodes_->forward();
    return order_[outputs_[0]]->data;
}

void Graph::backward() {
    nodes_->backward(input_grads_.data());         // the routed inputs' own gradients stay as they were
    for (std::size_t k = 0; k < fed_.size(); ++k)  // the scatter, in the inputs' order, to what the output reaches
        if (fed_[k] && nodes_->reaches_input(k)) fed_[k]->grad += input_grads_[k];
    input_grads_valid_ = true;
}

void Graph::feed(const double* numbers, Node* const* sources) {
    const std::size_t n = inputs_.size();
    if (sources) {  // every source a leaf, none an input: marked while they are checked (nothing throws meanwhile)
        for (std::size_t k = 0; k < n; ++k)
            input(k)->set(Node::visited, true);
        std::size_t bad = n;
        for (std::size_t k = 0; k < n && bad == n; ++k)
            if (sources[k] && (!sources[k]->is_leaf() || sources[k]->test(Node::visited))) bad = k;
        for (std::size_t k = 0; k < n; ++k)
            input(k)->set(Node::visited, false);
        if (bad < n) {
            throw std::invalid_argument(
                "input " + std::to_string(bad) + " is fed a Value that is " +
                (sources[bad]->is_leaf() ? "an input of this graph: feed a number, or a leaf that is not an input"
                                         : "not a leaf (made by an op): its gradient would stop there; feed a leaf"));
        }
    }
    std::size_t retained = 0;  // the new references first: the only step that can throw
    try {
        for (; sources && retained < n; ++retained)
            if (sources[retained]) retain(sources[retained]);
    } catch (...) {
        while (retained > 0)
            if (sources[--retained]) release(sources[retained]);  // never the last: the caller holds each
        throw;
    }
    input_grads_valid_ = false;
    for (std::size_t k = 0; k < n; ++k) {
        Node* source = sources ? sources[k] : nullptr;
        if (fed_[k]) release(fed_[k]);
        fed_[k] = source;
        nodes_->route(k, source != nullptr);
        if (!source) input(k)->data = numbers[k];
    }
}

bool Graph::input_gradients(double* out) const {
    if (!input_grads_valid_) return false;
    std::copy(input_grads_.begin(), input_grads_.end(), out);
    return true;
}

void Graph::map(const double* rows, std::size_t count, double* out, const MapOptions& options, MapCaller& caller) {
    if (options.backward && !differentiable())
        throw std::invalid_argument("map with backward: the first output depends on no leaf that is not an input");
    if (options.backward && count == 0) throw std::invalid_argument("map with backward needs at least one row");
    if (!batch_) {  // the capture again, as the first one (the graph cannot change), for the batch's passes
        std::vector<Node*> outputs, inputs;
        for (std::uint32_t o : outputs_)
            outputs.push_back(order_[o]);
        for (std::uint32_t i : inputs_)
            inputs.push_back(order_[i]);
        batch_ = std::make_unique<Batch>(graph_detail::capture(outputs, inputs));
        batch_made_.store(batch_.get(), std::memory_order_release);
    }
    batch_->load_leaves();
    auto work = [&] { batch_->run(rows, count, out, options); };
    caller.run_apart(MapCaller::Work(work));
    caller.outputs_ready();
    if (!options.backward) return;
    poll_interrupt();  // a Ctrl-C while the kernel finished or the outputs were made: no gradient lands
    batch_->store_gradients();
}

void Graph::forget_buffers() noexcept {
    if (batch_) batch_->forget_buffers();
}

}  // namespace micrograd
