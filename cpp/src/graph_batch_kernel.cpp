// The batch kernel of a Graph (graph_batch_kernel.hpp): each op's struct of
// ops.hpp over lanes, and the loops over a program's steps.
#include "graph_batch_kernel.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "graph_batch_layer.hpp"
#include "micrograd/ops.hpp"

namespace micrograd::graph_detail {
namespace {

// The lanes a step runs over: One (the uniform steps once per call, a single
// row) has the lane loops gone, Many runs them along contiguous lanes.
// How a step's terms of a uniform operand's gradient are summed over the lanes
// (sum_to_uniform): each kind its own kernels, so that the common one stays as
// small as its job.
enum class Sums { plain, after, terms, scaled };

struct One {
    static constexpr std::size_t stride = 1;
    static constexpr std::size_t n = 1;
};
struct Many {
    std::size_t stride, n;
};

// The sum over the lanes of what contribution(b, acc) adds to acc for lane b:
// eight running sums (one chain of adds would wait on each add).
template <class Lanes, class F>
double sum_over_lanes(const Lanes& lanes, F contribution) {
    // Eight named sums, not an array: the compiler keeps them in registers (an
    // array goes through memory).
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

// Adds to uniform node i's gradient, summed over the lanes, what
// contribution(b, g) adds to g for lane b: the step's term of row b's gradient.
// Sums::terms (the steps flagged reads_row_terms): a row's gradient also has
// the terms that are the same in every row, added before and after it where a
// rebuild adds them (RowTerms); Sums::scaled (every step of a rerun after an
// overflow): and it is scaled (by 2**-k) before it is summed. Else it is that
// term alone: the common kernels carry nothing more.
template <Sums Kind, class Lanes, class F>
void sum_to_uniform(const Lanes& lanes, const Memory& m, std::uint32_t i, F contribution) {
    if constexpr (Kind == Sums::plain) {
        add_to_uniform(m, i, sum_over_lanes(lanes, contribution));
    } else {
        const std::uint32_t t = m.terms_of[i];
        static const RowTerms no_terms;
        const RowTerms& terms = t == none ? no_terms : m.row_terms[t];
        const double after0 = terms.after[0], after1 = terms.after[1];
        if constexpr (Kind == Sums::after) {  // the terms all after the varying one (a regulariser after the model)
            add_to_uniform(m, i, sum_over_lanes(lanes, [&](std::size_t b, double& sum) {
                               double row = -0.0;  // x + -0.0 is x: the term itself
                               contribution(b, row);
                               sum += (row + after0) + after1;  // + 0.0 where there are fewer: exact
                           }));
        } else {
            const double before = terms.before, scale = Kind == Sums::scaled ? m.scale : 1.0;
            add_to_uniform(m, i, sum_over_lanes(lanes, [&](std::size_t b, double& sum) {
                               double row = before;
                               contribution(b, row);
                               row += after0;
                               row += after1;
                               sum += Kind == Sums::scaled ? row * scale : row;
                           }));
        }
    }
}

template <class Lanes, class S>
void forward_unary(const Lanes& lanes, const Step& s, const Memory& m) {
    double* __restrict out = m.data + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        out[b] = S::forward(x[b]);
}

template <class Lanes, class S>
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

template <class Lanes, class S>
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
// through memory.
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

template <class Lanes, class S>
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

template <class Lanes, class S, Sums>
void backward_unary(const Lanes& lanes, const Step& s, const Memory& m) {
    const double* out = m.data + s.out * lanes.stride;
    const double* g = m.grad + s.out * lanes.stride;
    const double* x = m.data + s.x * lanes.stride;
    double* gx = m.grad + s.x * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        S::backward(g[b], x[b], out[b], gx[b]);
}

template <class Lanes, class S, Sums Kind>
void backward_binary(const Lanes& lanes, const Step& s, const Memory& m) {
    const double* out = m.data + s.out * lanes.stride;
    const double* g = m.grad + s.out * lanes.stride;
    if (is_uniform(s.x)) {
        const double x = m.uniform[node_of(s.x)];
        const double* y = m.data + s.y * lanes.stride;
        double* gy = m.grad + s.y * lanes.stride;
        sum_to_uniform<Kind>(lanes, m, node_of(s.x),
                             [&](std::size_t b, double& gx) { S::backward(g[b], x, y[b], out[b], gx, gy[b]); });
    } else if (is_uniform(s.y)) {
        const double* x = m.data + s.x * lanes.stride;
        double* gx = m.grad + s.x * lanes.stride;
        const double y = m.uniform[node_of(s.y)];
        sum_to_uniform<Kind>(lanes, m, node_of(s.y),
                             [&](std::size_t b, double& gy) { S::backward(g[b], x[b], y, out[b], gx[b], gy); });
    } else {
        const double* x = m.data + s.x * lanes.stride;
        const double* y = m.data + s.y * lanes.stride;
        double* gx = m.grad + s.x * lanes.stride;
        double* gy = m.grad + s.y * lanes.stride;
        for (std::size_t b = 0; b < lanes.n; ++b)
            S::backward(g[b], x[b], y[b], out[b], gx[b], gy[b]);
    }
}

template <class Lanes, class S, Sums>
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
template <Sums Kind, class Lanes, class F>
void add_to_gradient(const Lanes& lanes, const Memory& m, std::uint32_t v, F contribution) {
    if (is_uniform(v)) {
        sum_to_uniform<Kind>(lanes, m, node_of(v), contribution);
        return;
    }
    double* gx = m.grad + v * lanes.stride;
    for (std::size_t b = 0; b < lanes.n; ++b)
        contribution(b, gx[b]);
}

template <class Lanes, class S, Sums Kind>
void backward_nary(const Lanes& lanes, const Step& s, const Memory& m) {
    const std::uint32_t* operands = m.args + s.x;
    const bool from_first = (s.flags & Node::fold_from_first) != 0;
    const double* g = m.grad + s.out * lanes.stride;
    const std::size_t stride = lanes.stride;
    auto lanes_of = [&](std::uint32_t v) { return m.data + v * stride; };
    auto grads_of = [&](std::uint32_t v) { return m.grad + v * stride; };
    if (from_first)  // the start: d(start + ...)/d(start)
        add_to_gradient<Kind>(lanes, m, operands[0], [&](std::size_t b, double& gx) { S::backward_start(g[b], gx); });
    for (std::size_t i = from_first; i + S::group <= s.y; i += S::group) {
        if constexpr (S::group == 1) {
            add_to_gradient<Kind>(lanes, m, operands[i],
                                  [&](std::size_t b, double& gx) { S::backward_step(g[b], gx); });
        } else {
            const std::uint32_t u = operands[i], v = operands[i + 1];
            if (is_uniform(u) && is_uniform(v)) {
                const double x = m.uniform[node_of(u)], y = m.uniform[node_of(v)];
                // apart: u and v may be one node
                sum_to_uniform<Kind>(lanes, m, node_of(u), [&](std::size_t b, double& part) {
                    double unused_y = 0.0;
                    S::backward_step(g[b], x, y, part, unused_y);
                });
                sum_to_uniform<Kind>(lanes, m, node_of(v), [&](std::size_t b, double& part) {
                    double unused_x = 0.0;
                    S::backward_step(g[b], x, y, unused_x, part);
                });
            } else if (is_uniform(u)) {
                const double x = m.uniform[node_of(u)];
                const double* y = lanes_of(v);
                double* gy = grads_of(v);
                sum_to_uniform<Kind>(lanes, m, node_of(u),
                                     [&](std::size_t b, double& gx) { S::backward_step(g[b], x, y[b], gx, gy[b]); });
            } else if (is_uniform(v)) {
                const double* x = lanes_of(u);
                double* gx = grads_of(u);
                const double y = m.uniform[node_of(v)];
                sum_to_uniform<Kind>(lanes, m, node_of(v),
                                     [&](std::size_t b, double& gy) { S::backward_step(g[b], x[b], y, gx[b], gy); });
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

template <class Lanes>
void forward_step(const Lanes& lanes, const Step& s, const Memory& m) {
    switch (s.op) {
        case Op::leaf: return;
#define MICROGRAD_FORWARD(id, Struct, arity, ...) \
    case Op::id: forward_##arity<Lanes, ops::Struct>(lanes, s, m); return;
            MICROGRAD_OPS(MICROGRAD_FORWARD)
        default: return;  // the ops users define: refused by the capture
#undef MICROGRAD_FORWARD
    }
}

template <class Lanes, Sums Kind>
void backward_step(const Lanes& lanes, const Step& s, const Memory& m) {
    switch (s.op) {
        case Op::leaf: return;
#define MICROGRAD_BACKWARD(id, Struct, arity, ...) \
    case Op::id: backward_##arity<Lanes, ops::Struct, Kind>(lanes, s, m); return;
            MICROGRAD_OPS(MICROGRAD_BACKWARD)
        default: return;  // the ops users define: refused by the capture
#undef MICROGRAD_BACKWARD
    }
}

template <class Lanes>
void backward_same_part(const Lanes& lanes, const Step& s, const Memory& m) {
    double* g = m.grad + s.out * lanes.stride;
    for (std::uint32_t k = 0; k < s.y; ++k) {
        const double term = m.parts[m.args[s.x + k]];
        for (std::size_t b = 0; b < lanes.n; ++b)
            g[b] += term;
    }
}

// A step of each kind.
template <class Lanes>
void run_forward(const Lanes& lanes, const Step& s, const Memory& m) {
    switch (s.kind) {
        case StepKind::op: forward_step(lanes, s, m); return;
        case StepKind::same_part: return;
    }
}
template <class Lanes>
void run_backward(const Lanes& lanes, const Step& s, const Memory& m) {
    switch (s.kind) {
        case StepKind::op:
            if (m.scale != 1.0)
                backward_step<Lanes, Sums::scaled>(lanes, s, m);
            else if (s.flags & terms_before)
                backward_step<Lanes, Sums::terms>(lanes, s, m);
            else if (s.flags & reads_row_terms)
                backward_step<Lanes, Sums::after>(lanes, s, m);
            else
                backward_step<Lanes, Sums::plain>(lanes, s, m);
            return;
        case StepKind::same_part: backward_same_part(lanes, s, m); return;
    }
}

// A group's call of the layer kernels over these lanes (graph_batch_layer.hpp).
// Group::first's arrays: members, x slots, weights' nodes, outputs, starts;
// Memory::packed from Group::packed: weights, sums, start values.
LayerCall layer_call(const Many& lanes, const Program& program, const Group& g, const Memory& m) {
    const std::uint32_t* a = program.group_args.data() + g.first;
    const std::size_t n = g.members, p = g.pairs;
    const double* packed = m.packed + g.packed;
    const double* terms = g.terms ? packed + 2 * n * p + n : nullptr;
    const bool before = (g.terms & 1) != 0, after = (g.terms & 6) != 0;
    const bool after1 = (g.terms & 4) || (before && after);  // two terms after, or terms before and after
    return LayerCall{n,
                     p,
                     lanes.n,
                     std::min(lanes.stride, (lanes.n + 7) / 8 * 8),
                     lanes.stride,
                     m.data,
                     m.grad,
                     a + n,
                     a + n + p + n * p,
                     a + n + p + n * p + n,
                     packed + 2 * n * p,
                     packed,
                     m.sums + g.packed + n * p,
                     before ? terms : nullptr,
                     after ? terms + n * p : nullptr,
                     after1 ? terms + 2 * n * p : nullptr};
}

// Over one lane, or where a row's gradient is scaled (a rerun after an
// overflow, one lane a chunk too), each member runs as its own step.
void forward_group(const Many& lanes, const Program& program, const Group& g, const Memory& m) {
    layer_kernels().forward(layer_call(lanes, program, g, m));
}

// As the members' steps backward, from the last: each one's start gets its
// term (a lane slot of its own, or a uniform node no other step reads per
// row), the x_j their terms in that order, and each weight its step's sum.
void backward_group(const Many& lanes, const Program& program, const Group& g, const Memory& m) {
    const std::uint32_t* members = program.group_args.data() + g.first;
    for (std::size_t k = g.members; k-- > 0;) {
        const Step& s = program.steps[members[k]];
        if (!(s.flags & Node::fold_from_first)) continue;
        const double* grad = m.grad + s.out * lanes.stride;
        auto term = [&](std::size_t b, double& gx) { ops::Dot::backward_start(grad[b], gx); };
        if (s.flags & terms_before)
            add_to_gradient<Sums::terms>(lanes, m, m.args[s.x], term);
        else if (s.flags & reads_row_terms)
            add_to_gradient<Sums::after>(lanes, m, m.args[s.x], term);
        else
            add_to_gradient<Sums::plain>(lanes, m, m.args[s.x], term);
    }
    const LayerCall call = layer_call(lanes, program, g, m);
    layer_kernels().backward(call);
    const std::uint32_t* weights = members + g.members + g.pairs;
    for (std::size_t k = 0; k < std::size_t(g.members) * g.pairs; ++k)
        add_to_uniform(m, weights[k], call.sums[k]);
}

template <class Lanes>
void forward_range(const Program& program, std::size_t begin, std::size_t end, const Memory& m, const Lanes& lanes,
                   Poll& poll) {
    for (std::size_t k = begin; k < end; ++k) {
        const Step& s = program.steps[k];
        if (s.flags & backward_only) continue;
        if constexpr (!std::is_same_v<Lanes, One>) {
            if (!program.group_of.empty() && program.group_of[k] != none) {
                if (program.group_of[k] == in_group) continue;
                const Group& g = program.groups[program.group_of[k]];
                forward_group(lanes, program, g, m);
                poll.work(lanes.n * g.members);
                continue;
            }
        }
        if constexpr (std::is_same_v<Lanes, One>) {
            if (s.op == Op::mul && s.kind == StepKind::op) {  // the common uniform step (a regulariser's p * p): inline
                auto value = [&](std::uint32_t v) { return is_uniform(v) ? m.uniform[node_of(v)] : m.data[v]; };
                m.data[s.out] = ops::Mul::forward(value(s.x), value(s.y));
                poll.work(1);
                continue;
            }
        }
        run_forward(lanes, s, m);
        poll.work(lanes.n);
    }
}
template <class Lanes>
void backward_range(const Program& program, std::size_t end, const Memory& m, const Lanes& lanes, Poll& poll) {
    for (std::size_t k = end; k-- > 0;) {
        if constexpr (!std::is_same_v<Lanes, One>) {
            if (!program.group_of.empty() && program.group_of[k] != none && m.scale == 1.0) {
                if (program.group_of[k] == in_group) continue;
                const Group& g = program.groups[program.group_of[k]];
                backward_group(lanes, program, g, m);
                poll.work(lanes.n * g.members);
                continue;
            }
        }
        run_backward(lanes, program.steps[k], m);
        poll.work(lanes.n);
    }
}

// operand_terms of an n-ary uniform step: its fold's derivatives, operand by operand.
template <class S>
void nary_terms(const Step& s, const Memory& m, double g, double* terms) {
    const std::uint32_t* operands = m.args + s.x;
    const bool from_first = (s.flags & Node::fold_from_first) != 0;
    std::fill(terms, terms + s.y, 0.0);
    if (from_first) S::backward_start(g, terms[0]);
    for (std::size_t i = from_first; i + S::group <= s.y; i += S::group) {
        if constexpr (S::group == 1)
            S::backward_step(g, terms[i]);
        else
            S::backward_step(g, m.uniform[operands[i]], m.uniform[operands[i + 1]], terms[i], terms[i + 1]);
    }
}

}  // namespace

void forward_steps(const Program& program, std::size_t begin, std::size_t end, const Memory& m, std::size_t stride,
                   std::size_t lanes, Poll& poll) {
    if (stride == 1)
        forward_range(program, begin, end, m, One{}, poll);
    else
        forward_range(program, begin, end, m, Many{stride, lanes}, poll);
}

void backward_steps(const Program& program, std::size_t end, const Memory& m, std::size_t stride, std::size_t lanes,
                    Poll& poll) {
    if (stride == 1)
        backward_range(program, end, m, One{}, poll);
    else
        backward_range(program, end, m, Many{stride, lanes}, poll);
}

void backward_one(const Step& s, const Memory& m) { run_backward(One{}, s, m); }

void operand_terms(const Step& s, const Memory& m, double* terms) {
    const double* v = m.uniform;
    const double g = m.uniform_grad[s.out], out = v[s.out];
    switch (s.op) {
        case Op::leaf: return;
#define MICROGRAD_TERMS_unary(Struct) \
    terms[0] = 0.0;                   \
    ops::Struct::backward(g, v[s.x], out, terms[0])
#define MICROGRAD_TERMS_scalar(Struct) \
    terms[0] = 0.0;                    \
    ops::Struct::backward(g, v[s.x], m.constants[s.y], out, terms[0])
#define MICROGRAD_TERMS_binary(Struct) \
    terms[0] = terms[1] = 0.0;         \
    ops::Struct::backward(g, v[s.x], v[s.y], out, terms[0], terms[1])  // apart, even for x op x
#define MICROGRAD_TERMS_nary(Struct) nary_terms<ops::Struct>(s, m, g, terms)
#define MICROGRAD_TERMS(id, Struct, arity, ...) \
    case Op::id: MICROGRAD_TERMS_##arity(Struct); return;
            MICROGRAD_OPS(MICROGRAD_TERMS)
        default: return;  // the ops users define: refused by the capture
#undef MICROGRAD_TERMS
#undef MICROGRAD_TERMS_unary
#undef MICROGRAD_TERMS_scalar
#undef MICROGRAD_TERMS_binary
#undef MICROGRAD_TERMS_nary
    }
}

void add_lanes_to_uniform(const Memory& m, std::uint32_t i, const double* lane, std::size_t lanes) {
    const double scale = m.scale;
    add_to_uniform(m, i, sum_over_lanes(Many{0, lanes}, [&](std::size_t b, double& sum) { sum += lane[b] * scale; }));
}

}  // namespace micrograd::graph_detail
