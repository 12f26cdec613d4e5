// The batch of a Tape: its steps over lanes of rows (Tape::run), the uniform
// steps once, and the parameters' gradients.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "micrograd/ops.hpp"
#include "micrograd/tape.hpp"
#include "tape_internal.hpp"

namespace micrograd {
namespace {

using namespace tape_detail;

// The kernel: one step over n lanes, value v of lane b at lanes[v * stride + b].
// The uniform steps (once per call) and a single row run the same code with one
// lane (Lanes = One), the lane loops gone; over a batch the loops run along
// contiguous lanes and vectorise. Either way each op is its struct in ops.hpp.
// (An operand that does not vary is one value: uniform_bit, tape_internal.hpp.)
struct One {
    static constexpr std::size_t stride = 1;
    static constexpr std::size_t n = 1;
};
struct Many {
    std::size_t stride, n;
};

struct Memory {
    double* data;  // lanes: value v of lane b at data[v * stride + b]
    double* grad;
    const double* uniform;  // the uniform nodes' values and gradients, by node index
    double* uniform_grad;
    double* uniform_low;        // the rounding errors of uniform_grad's sums (add_to_uniform)
    const std::uint32_t* args;  // the n-ary steps' operands
    const double* constants;    // pow_const's exponents
};

// The sum over the lanes of what contribution(b, acc) adds to acc for lane b:
// eight running sums (one chain of adds would wait on each add).
template <class Lanes, class F>
double sum_over_lanes(const Lanes& lanes, F contribution) {
    // Eight named sums, not an array: the compiler keeps them in registers (an
    // array went through memory; moons step over 100 rows 0.0226 -> 0.0213 ms).
    double p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0, p4 = 0.0, p5 = 0.0, p6 = 0.0, p7 = 0.0;
    std::size_t b = 0;
    if constexpr (!std::is_same_v<Lanes, One>) {
        for (; b + 8 <= lanes.n; b += 8) {
            contribution(b, p0);
            contribution(b + 1, p1);
            contribution(b + 2, p2);
            contribution(b + 3, p3);
            contribution(b + 4, p4);
            contribution(b + 5, p5);
            contribution(b + 6, p6);
            contribution(b + 7, p7);
        }
    }
    for (; b < lanes.n; ++b)
        contribution(b, p0);
    return ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7));
}

// Adds a chunk's sum to uniform node i's gradient. A parameter read by k steps
// gets k * chunks such sums one after the other (2,000 steps over 10,000 rows:
// 158,000 adds, 1e-11 relative off the exact sum of positive terms), so each
// add's rounding error is kept apart (Knuth's TwoSum, no branch) and added once
// after the last chunk: then within a few ulp of the exact sum of the chunk sums.
// Once the sum is inf or nan it stays so, and its error (then nan) is not added.
inline void add_to_uniform(const Memory& m, std::uint32_t i, double s) {
    double& into = m.uniform_grad[i];
    const double t = into + s;
    const double s_part = t - into;
    m.uniform_low[i] += (into - (t - s_part)) + (s - s_part);
    into = t;
}

template <class Lanes, class S, class Step>
void forward_unary(const Lanes& lanes, const Step& s, const Memory& m) {
    double* __restrict out = m.data + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        out[b] = S::forward(x[b]);
}

template <class Lanes, class S, class Step>
void forward_binary(const Lanes& lanes, const Step& s, const Memory& m) {
    double* __restrict out = m.data + s.out * lanes.stride;
    if (is_uniform(s.x)) {
        const double x = m.uniform[node_of(s.x)];
        const double* y = m.data + s.y * lanes.stride;
        for (std::size_t b = 0; b < lanes.n; ++b)
            out[b] = S::forward(x, y[b]);
    } else if (is_uniform(s.y)) {
        const double* x = m.data + s.x * lanes.stride;
        const double y = m.uniform[node_of(s.y)];
        for (std::size_t b = 0; b < lanes.n; ++b)
            out[b] = S::forward(x[b], y);
    } else {
        const double* x = m.data + s.x * lanes.stride;
        const double* y = m.data + s.y * lanes.stride;
        for (std::size_t b = 0; b < lanes.n; ++b)
            out[b] = S::forward(x[b], y[b]);
    }
}

template <class Lanes, class S, class Step>
void forward_scalar(const Lanes& lanes, const Step& s, const Memory& m) {
    double* __restrict out = m.data + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    const double k = m.constants[s.y];
    for (std::size_t b = 0; b < lanes.n; ++b)
        out[b] = S::forward(x[b], k);
}

// An n-ary step: S's fold, left to right from its start, over groups of
// S::group operands (Dot: pairs, Sum: single values), each lanes or uniform.
// Eight lanes at a time, so that the running sums stay in registers through
// all the operands.
// Lanes b0 .. b0 + n of the step into out; n = Fixed when Fixed is not 0: then
// the loops over lanes have a constant count and are unrolled whole, so that the
// running sums stay in registers from one operand to the next instead of going
// through memory (moons step over 100 rows: 0.0213 -> 0.0201 ms).
#if defined(__clang__)
#define MICROGRAD_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define MICROGRAD_UNROLL _Pragma("GCC unroll 8")
#else
#define MICROGRAD_UNROLL
#endif
template <class S, std::size_t Fixed>
void fold_block(const std::uint32_t* operands, std::size_t count, bool from_first, const Memory& m, std::size_t stride,
                std::size_t b0, std::size_t lanes_n, double* out) {
    const std::size_t n = Fixed ? Fixed : lanes_n;
    double acc[8];  // a local: nothing else can write it
    auto value = [&](std::uint32_t v, std::size_t b) {
        return is_uniform(v) ? m.uniform[node_of(v)] : m.data[v * stride + b0 + b];
    };
    MICROGRAD_UNROLL for (std::size_t b = 0; b < n; ++b) acc[b] =
        from_first ? value(operands[0], b) : 0.0;  // the fold's start
    for (std::size_t i = from_first; i + S::group <= count; i += S::group) {
        if constexpr (S::group == 1) {
            const std::uint32_t v = operands[i];
            if (is_uniform(v)) {
                const double x = m.uniform[node_of(v)];
                MICROGRAD_UNROLL for (std::size_t b = 0; b < n; ++b) acc[b] = S::step(acc[b], x);
            } else {
                const double* x = m.data + v * stride + b0;
                MICROGRAD_UNROLL for (std::size_t b = 0; b < n; ++b) acc[b] = S::step(acc[b], x[b]);
            }
        } else {
            const std::uint32_t u = operands[i], v = operands[i + 1];
            if (is_uniform(u) && is_uniform(v)) {
                const double xu = m.uniform[node_of(u)], yu = m.uniform[node_of(v)];
                MICROGRAD_UNROLL for (std::size_t b = 0; b < n; ++b) acc[b] = S::step(acc[b], xu, yu);
            } else if (is_uniform(u)) {
                const double xu = m.uniform[node_of(u)];
                const double* y = m.data + v * stride + b0;
                MICROGRAD_UNROLL for (std::size_t b = 0; b < n; ++b) acc[b] = S::step(acc[b], xu, y[b]);
            } else if (is_uniform(v)) {
                const double* x = m.data + u * stride + b0;
                const double yu = m.uniform[node_of(v)];
                MICROGRAD_UNROLL for (std::size_t b = 0; b < n; ++b) acc[b] = S::step(acc[b], x[b], yu);
            } else {
                const double* x = m.data + u * stride + b0;
                const double* y = m.data + v * stride + b0;
                MICROGRAD_UNROLL for (std::size_t b = 0; b < n; ++b) acc[b] = S::step(acc[b], x[b], y[b]);
            }
        }
    }
    std::copy(acc, acc + n, out);
}

template <class Lanes, class S, class Step>
void forward_nary(const Lanes& lanes, const Step& s, const Memory& m) {
    const std::uint32_t* operands = m.args + s.x;
    const bool from_first = (s.flags & Node::fold_from_first) != 0;
    double* out = m.data + s.out * lanes.stride;
    std::size_t b0 = 0;
    if constexpr (!std::is_same_v<Lanes, One>) {
        for (; b0 + 8 <= lanes.n; b0 += 8)
            fold_block<S, 8>(operands, s.y, from_first, m, lanes.stride, b0, 8, out + b0);
    }
    if (b0 < lanes.n) fold_block<S, 0>(operands, s.y, from_first, m, lanes.stride, b0, lanes.n - b0, out + b0);
}

template <class Lanes, class S, class Step>
void backward_unary(const Lanes& lanes, const Step& s, const Memory& m) {
    const double* out = m.data + s.out * lanes.stride;
    const double* g = m.grad + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    double* gx = m.grad + s.x * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        S::backward(g[b], x[b], out[b], gx[b]);
}

template <class Lanes, class S, class Step>
void backward_binary(const Lanes& lanes, const Step& s, const Memory& m) {
    const double* out = m.data + s.out * lanes.stride;
    const double* g = m.grad + s.out * lanes.stride;
    if (is_uniform(s.x)) {
        const double x = m.uniform[node_of(s.x)];
        const double* y = m.data + s.y * lanes.stride;
        double* gy = m.grad + s.y * lanes.stride;
        add_to_uniform(m, node_of(s.x), sum_over_lanes(lanes, [&](std::size_t b, double& gx) {
                           S::backward(g[b], x, y[b], out[b], gx, gy[b]);
                       }));
    } else if (is_uniform(s.y)) {
        const double* x = m.data + s.x * lanes.stride;
        double* gx = m.grad + s.x * lanes.stride;
        const double y = m.uniform[node_of(s.y)];
        add_to_uniform(m, node_of(s.y), sum_over_lanes(lanes, [&](std::size_t b, double& gy) {
                           S::backward(g[b], x[b], y, out[b], gx[b], gy);
                       }));
    } else {
        const double* x = m.data + s.x * lanes.stride;
        const double* y = m.data + s.y * lanes.stride;
        double* gx = m.grad + s.x * lanes.stride;
        double* gy = m.grad + s.y * lanes.stride;
        for (std::size_t b = 0; b < lanes.n; ++b)
            S::backward(g[b], x[b], y[b], out[b], gx[b], gy[b]);
    }
}

template <class Lanes, class S, class Step>
void backward_scalar(const Lanes& lanes, const Step& s, const Memory& m) {
    const double* out = m.data + s.out * lanes.stride;
    const double* g = m.grad + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    double* gx = m.grad + s.x * lanes.stride;
    const double k = m.constants[s.y];
    for (std::size_t b = 0; b < lanes.n; ++b)
        S::backward(g[b], x[b], k, out[b], gx[b]);
}

// contribution(b, gx) adds lane b's part to the gradient gx of operand v: its
// lane's for a varying operand, summed over the lanes for a uniform one.
template <class Lanes, class F>
void add_to_gradient(const Lanes& lanes, const Memory& m, std::uint32_t v, F contribution) {
    if (is_uniform(v)) {
        add_to_uniform(m, node_of(v), sum_over_lanes(lanes, contribution));
        return;
    }
    double* gx = m.grad + v * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        contribution(b, gx[b]);
}

template <class Lanes, class S, class Step>
void backward_nary(const Lanes& lanes, const Step& s, const Memory& m) {
    const std::uint32_t* operands = m.args + s.x;
    const bool from_first = (s.flags & Node::fold_from_first) != 0;
    const double* g = m.grad + s.out * lanes.stride;
    const std::size_t stride = lanes.stride;
    auto lanes_of = [&](std::uint32_t v) { return m.data + v * stride; };
    auto grads_of = [&](std::uint32_t v) { return m.grad + v * stride; };
    if (from_first)  // the start: d(start + ...)/d(start)
        add_to_gradient(lanes, m, operands[0], [&](std::size_t b, double& gx) { S::backward_start(g[b], gx); });
    for (std::size_t i = from_first; i + S::group <= s.y; i += S::group) {
        if constexpr (S::group == 1) {
            add_to_gradient(lanes, m, operands[i], [&](std::size_t b, double& gx) { S::backward_step(g[b], gx); });
        } else {
            const std::uint32_t u = operands[i], v = operands[i + 1];
            if (is_uniform(u) && is_uniform(v)) {
                const double x = m.uniform[node_of(u)], y = m.uniform[node_of(v)];
                // apart: u and v may be one node
                add_to_uniform(m, node_of(u), sum_over_lanes(lanes, [&](std::size_t b, double& part) {
                                   double unused_y = 0.0;
                                   S::backward_step(g[b], x, y, part, unused_y);
                               }));
                add_to_uniform(m, node_of(v), sum_over_lanes(lanes, [&](std::size_t b, double& part) {
                                   double unused_x = 0.0;
                                   S::backward_step(g[b], x, y, unused_x, part);
                               }));
            } else if (is_uniform(u)) {
                const double x = m.uniform[node_of(u)];
                const double* y = lanes_of(v);
                double* gy = grads_of(v);
                add_to_uniform(m, node_of(u), sum_over_lanes(lanes, [&](std::size_t b, double& gx) {
                                   S::backward_step(g[b], x, y[b], gx, gy[b]);
                               }));
            } else if (is_uniform(v)) {
                const double* x = lanes_of(u);
                double* gx = grads_of(u);
                const double y = m.uniform[node_of(v)];
                add_to_uniform(m, node_of(v), sum_over_lanes(lanes, [&](std::size_t b, double& gy) {
                                   S::backward_step(g[b], x[b], y, gx[b], gy);
                               }));
            } else {
                const double* x = lanes_of(u);
                const double* y = lanes_of(v);
                double* gx = grads_of(u);
                double* gy = grads_of(v);
                for (std::size_t b = 0; b < lanes.n; ++b)
                    S::backward_step(g[b], x[b], y[b], gx[b], gy[b]);
            }
        }
    }
}

template <class Lanes, class Step>
void forward_step(const Lanes& lanes, const Step& s, const Memory& m) {
    switch (s.op) {
        case Op::leaf: return;
#define MICROGRAD_FORWARD(id, Struct, arity, ...) \
    case Op::id: forward_##arity<Lanes, ops::Struct>(lanes, s, m); return;
            MICROGRAD_OPS(MICROGRAD_FORWARD)
#undef MICROGRAD_FORWARD
    }
}

template <class Lanes, class Step>
void backward_step(const Lanes& lanes, const Step& s, const Memory& m) {
    switch (s.op) {
        case Op::leaf: return;
#define MICROGRAD_BACKWARD(id, Struct, arity, ...) \
    case Op::id: backward_##arity<Lanes, ops::Struct>(lanes, s, m); return;
            MICROGRAD_OPS(MICROGRAD_BACKWARD)
#undef MICROGRAD_BACKWARD
    }
}

// Lane buffers hold about this many bytes (data and gradients): a chunk of
// rows small enough to stay in cache, large enough for the loops to pay. Up to
// 128 rows a chunk (bench_graph.py, moons step over 100 rows: 64 -> 128 lanes
// took it from 0.109x to 0.099x PyTorch; 256 was no better).
constexpr std::size_t chunk_bytes = std::size_t(1) << 20;
constexpr std::size_t max_lanes = 128;

}  // namespace

// --- the batch ------------------------------------------------------------------

bool Tape::differentiable() const { return !parameters_.empty(); }

void Tape::load_leaves() {
    for (std::uint32_t leaf : leaves_)
        if (!varies_[leaf]) data_[leaf] = nodes_[leaf]->data;
}

void Tape::run(const double* rows, std::size_t count, double* out, bool backward, Reduction reduction) {
    const One one;
    double* data = data_.data();
    double* grad = grad_.data();
    double* low = grad_low_.data();
    const Memory uniform{data, grad, data, grad, low, uniform_.args.data(), constants_.data()};
    for (const Step& s : uniform_.steps)  // what does not vary: once
        forward_step(one, s, uniform);
    if (backward) {  // the lane steps add the uniform operands' gradients
        std::fill(grad_.begin(), grad_.end(), 0.0);
        for (std::uint32_t i : uniform_operands_)
            low[i] = 0.0;
    }

    // Chunks of rows, one lane each, as many as fit in chunk_bytes.
    const std::size_t per_lane = 2 * sizeof(double) * (slots_ ? slots_ : 1);
    const std::size_t width = std::max<std::size_t>(1, std::min({count, max_lanes, chunk_bytes / per_lane}));
    if (width > stride_ || lane_data_.size() < slots_ * width) {
        std::vector<double> more_data(slots_ * width), more_grad(slots_ * width);  // may throw: nothing changed yet
        lane_data_.swap(more_data);
        lane_grad_.swap(more_grad);
        stride_ = width;
    }
    const std::size_t stride = stride_;
    double* lane_data = lane_data_.data();
    double* lane_grad = lane_grad_.data();
    const Memory lanes_memory{lane_data, lane_grad, data, grad, low, lanes_.args.data(), constants_.data()};
    const double seed = reduction == Reduction::mean ? 1.0 / double(count) : 1.0;
    const std::uint32_t first = outputs_[0];
    const std::size_t n_in = inputs_.size(), n_out = outputs_.size();

    // A chunk of rows; the steps' loops run over `lanes` (One: a single row, the
    // loops gone, as the replay on the nodes).
    auto chunk = [&](std::size_t row, const auto& lanes) {
        for (std::size_t k = 0; k < n_in; ++k) {  // the rows, transposed into the inputs' lanes
            double* lane = lane_data + slot_[inputs_[k]] * stride;
            for (std::size_t b = 0; b < lanes.n; ++b)
                lane[b] = rows[(row + b) * n_in + k];
        }
        for (const Step& s : lanes_.steps)
            forward_step(lanes, s, lanes_memory);
        for (std::size_t j = 0; j < n_out; ++j) {
            const std::uint32_t o = outputs_[j];
            for (std::size_t b = 0; b < lanes.n; ++b)
                out[(row + b) * n_out + j] = varies_[o] ? lane_data[slot_[o] * stride + b] : data[o];
        }
        if (!backward) return;
        std::fill_n(lane_grad, slots_ * stride, 0.0);
        if (varies_[first]) std::fill_n(lane_grad + slot_[first] * stride, lanes.n, seed);
        // Only the steps below the first output: another output's step would pass on a zero
        // gradient, and 0 * inf is nan.
        for (std::size_t k = first_lane_steps_; k-- > 0;)
            backward_step(lanes, lanes_.steps[k], lanes_memory);
    };
    for (std::size_t row = 0; row < count; row += stride) {
        if (stride == 1)
            chunk(row, One{});
        else
            chunk(row, Many{stride, std::min(stride, count - row)});
    }
    if (!backward) return;

    // The uniform nodes' gradients: what the lane steps added (with the rounding errors of
    // those sums), then the uniform steps once.
    for (std::uint32_t i : uniform_operands_)
        if (std::isfinite(grad[i])) grad[i] += low[i];
    if (!varies_[first]) grad[first] += seed * double(count);
    for (std::size_t k = first_uniform_steps_; k-- > 0;)
        backward_step(one, uniform_.steps[k], uniform);
}

void Tape::store_gradients() {
    for (std::uint32_t leaf : parameters_) {
        Node* node = nodes_[leaf];
        node->grad = node->grad + grad_[leaf];
    }
}

}  // namespace micrograd
