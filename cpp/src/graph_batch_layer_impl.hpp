// The layer kernels of graph_batch_layer.hpp for one instruction set: included
// by one file per set, with MICROGRAD_LAYER_NS (its namespace) and
// MICROGRAD_VEC_BYTES (its vectors' width) defined. Everything here but the
// two entry points has internal linkage and nothing comes from a header with
// inline functions of its own: code built for a wider set never stands in for
// another file's (the linker merges inline functions across files).
#include <cstddef>
#include <cstdint>
#include <type_traits>  // integral_constant: no inline functions of its own

#include "graph_batch_layer.hpp"

namespace micrograd::graph_detail::MICROGRAD_LAYER_NS {
namespace {

#if defined(__GNUC__) || defined(__clang__)
constexpr std::size_t L = MICROGRAD_VEC_BYTES / sizeof(double);  // doubles a vector
typedef double V __attribute__((vector_size(MICROGRAD_VEC_BYTES)));
inline V load(const double* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
inline void store(double* p, V v) { __builtin_memcpy(p, &v, sizeof v); }
inline V splat(double x) { return x - V{}; }  // a broadcast: x - 0.0 is x, -0.0 and nan included
inline double lane(V v, std::size_t i) { return v[i]; }
inline void set_first(V& v, double x) { v[0] = x; }
#define MICROGRAD_EIGHT_SUMS 1
// [a0 + a1, a2 + a3, ..., b0 + b1, b2 + b3, ...]: the sums of neighbours, a's then b's.
inline V pair_sums(V a, V b) {
#if defined(__clang__)
#define MICROGRAD_SHUFFLE(...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
    typedef long long M __attribute__((vector_size(MICROGRAD_VEC_BYTES)));
#define MICROGRAD_SHUFFLE(...) __builtin_shuffle(a, b, M{__VA_ARGS__})
#endif
#if MICROGRAD_VEC_BYTES == 64
    return MICROGRAD_SHUFFLE(0, 2, 4, 6, 8, 10, 12, 14) + MICROGRAD_SHUFFLE(1, 3, 5, 7, 9, 11, 13, 15);
#elif MICROGRAD_VEC_BYTES == 32
    return MICROGRAD_SHUFFLE(0, 2, 4, 6) + MICROGRAD_SHUFFLE(1, 3, 5, 7);
#elif MICROGRAD_VEC_BYTES == 16
    return MICROGRAD_SHUFFLE(0, 2) + MICROGRAD_SHUFFLE(1, 3);
#else
#error "vectors of 16, 32 or 64 bytes"
#endif
#undef MICROGRAD_SHUFFLE
}
// Eight vectors a[0 .. 8) of the running sums, K a sum (sums_block: sum b % 8 in
// vector b / L, lane b % L), of 8 / K sums: lane i of the result is sum i's
// ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), as each is added one by one.
inline V eight_sums(const V* a) {
    return pair_sums(pair_sums(pair_sums(a[0], a[1]), pair_sums(a[2], a[3])),
                     pair_sums(pair_sums(a[4], a[5]), pair_sums(a[6], a[7])));
}
#else  // plain doubles (MSVC: it vectorises what it can)
constexpr std::size_t L = 1;
using V = double;
inline V load(const double* p) { return *p; }
inline void store(double* p, V v) { *p = v; }
inline V splat(double x) { return x; }
inline double lane(V v, std::size_t) { return v; }
inline void set_first(V& v, double x) { v = x; }
#endif
constexpr std::size_t K = L < 8 ? 8 / L : 1;  // vectors for eight running sums
static_assert(L <= 8, "eight running sums, lane b in sum b % 8");

// Register blocks: members (or pairs) x vectors of lanes, and members x pairs
// for the sums over the lanes; within the registers each set has (AVX-512: 6 x 4
// running sums, 4 vectors of an operand and a broadcast weight, of 32; 4 vectors
// rather than 2: a 1,000 x 64 step on one core about 1.0 ms -> 0.82-0.94).
constexpr std::size_t NB = L >= 8 ? 6 : 4, VB = L >= 8 ? 4 : 2;  // forward and x's gradients
constexpr std::size_t SN = L >= 8 ? 4 : 2, SJ = L >= 8 ? 4 : 2;  // the sums

inline bool lane_start(std::uint32_t s) { return (s >> 31) == 0; }

// Members n0 .. n0 + N over lanes b0 .. b0 + W * L.
template <std::size_t N, std::size_t W>
inline void forward_block(const LayerCall& c, std::size_t n0, std::size_t b0) {
    V acc[N][W];
    for (std::size_t n = 0; n < N; ++n) {
        const std::uint32_t s = c.start[n0 + n];
        if (lane_start(s)) {
            const double* start = c.data + s * c.stride + b0;
            for (std::size_t v = 0; v < W; ++v)
                acc[n][v] = load(start + v * L);
        } else {
            const V start = splat(c.start_value[n0 + n]);
            for (std::size_t v = 0; v < W; ++v)
                acc[n][v] = start;
        }
    }
    const double* w = c.w + n0 * c.pairs;
    for (std::size_t p = 0; p < c.pairs; ++p) {
        const double* x = c.data + c.x[p] * c.stride + b0;
        V xv[W];
        for (std::size_t v = 0; v < W; ++v)
            xv[v] = load(x + v * L);
        for (std::size_t n = 0; n < N; ++n) {
            const V wv = splat(w[n * c.pairs + p]);
            for (std::size_t v = 0; v < W; ++v)
                acc[n][v] = acc[n][v] + wv * xv[v];
        }
    }
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t v = 0; v < W; ++v)
            store(c.data + c.out[n0 + n] * c.stride + b0 + v * L, acc[n][v]);
}

inline void forward_lane(const LayerCall& c, std::size_t n, std::size_t b) {
    const std::uint32_t s = c.start[n];
    double acc = lane_start(s) ? c.data[s * c.stride + b] : c.start_value[n];
    const double* w = c.w + n * c.pairs;
    for (std::size_t p = 0; p < c.pairs; ++p)
        acc = acc + w[p] * c.data[c.x[p] * c.stride + b];
    c.data[c.out[n] * c.stride + b] = acc;
}

// f(std::integral_constant<R>) for the rest r < Max of a count after its blocks of Max: one block of r,
// not r blocks of one (each a chain of adds waiting on the one before).
template <std::size_t Max, class F>
inline void rest(std::size_t r, F f) {
    static_assert(Max <= 6, "blocks of at most 6");
    switch (r) {
        case 1: f(std::integral_constant<std::size_t, 1>{}); return;
        case 2:
            if constexpr (Max > 2) f(std::integral_constant<std::size_t, 2>{});
            return;
        case 3:
            if constexpr (Max > 3) f(std::integral_constant<std::size_t, 3>{});
            return;
        case 4:
            if constexpr (Max > 4) f(std::integral_constant<std::size_t, 4>{});
            return;
        case 5:
            if constexpr (Max > 5) f(std::integral_constant<std::size_t, 5>{});
            return;
        default: return;
    }
}

template <std::size_t W>
inline void forward_lanes(const LayerCall& c, std::size_t b0) {
    std::size_t n = 0;
    for (; n + NB <= c.members; n += NB)
        forward_block<NB, W>(c, n, b0);
    rest<NB>(c.members - n, [&](auto r) { forward_block<decltype(r)::value, W>(c, n, b0); });
}

// x_j's gradients, pairs p0 .. p0 + J over lanes b0 .. b0 + W * L: the terms
// from the last member to the first.
template <std::size_t J, std::size_t W>
inline void inputs_block(const LayerCall& c, std::size_t p0, std::size_t b0) {
    V acc[J][W];
    for (std::size_t j = 0; j < J; ++j)
        for (std::size_t v = 0; v < W; ++v)
            acc[j][v] = load(c.grad + c.x[p0 + j] * c.stride + b0 + v * L);
    for (std::size_t n = c.members; n-- > 0;) {
        const double* g = c.grad + c.out[n] * c.stride + b0;
        V gv[W];
        for (std::size_t v = 0; v < W; ++v)
            gv[v] = load(g + v * L);
        const double* w = c.w + n * c.pairs + p0;
        for (std::size_t j = 0; j < J; ++j) {
            const V wv = splat(w[j]);
            for (std::size_t v = 0; v < W; ++v)
                acc[j][v] = acc[j][v] + gv[v] * wv;
        }
    }
    for (std::size_t j = 0; j < J; ++j)
        for (std::size_t v = 0; v < W; ++v)
            store(c.grad + c.x[p0 + j] * c.stride + b0 + v * L, acc[j][v]);
}

inline void inputs_lane(const LayerCall& c, std::size_t p, std::size_t b) {
    double& gx = c.grad[c.x[p] * c.stride + b];
    double acc = gx;
    for (std::size_t n = c.members; n-- > 0;)
        acc = acc + c.grad[c.out[n] * c.stride + b] * c.w[n * c.pairs + p];
    gx = acc;
}

template <std::size_t W>
inline void inputs_lanes(const LayerCall& c, std::size_t b0) {
    std::size_t p = 0;
    for (; p + NB <= c.pairs; p += NB)
        inputs_block<NB, W>(c, p, b0);
    rest<NB>(c.pairs - p, [&](auto r) { inputs_block<decltype(r)::value, W>(c, p, b0); });
}

// The sums over the lanes of g_n * x_j (Terms: with the weights' row terms),
// members n0 .. n0 + N x pairs p0 .. p0 + J.
// A weight's row terms: none; before alone; one after alone; two after; ((before + t) + after0) + after1.
enum class Terms { none, before, after, after2, all };

template <Terms T, class X>
inline X with_terms(X t, const LayerCall& c, std::size_t i) {
    auto at = [](const double* a, std::size_t k) {
        if constexpr (sizeof(X) == sizeof(double))
            return a[k];
        else
            return splat(a[k]);
    };
    if constexpr (T == Terms::none) return t;
    if constexpr (T == Terms::before) return at(c.before, i) + t;
    if constexpr (T == Terms::after) return t + at(c.after0, i);
    if constexpr (T == Terms::after2) return (t + at(c.after0, i)) + at(c.after1, i);
    if constexpr (T == Terms::all) return ((at(c.before, i) + t) + at(c.after0, i)) + at(c.after1, i);
}

template <Terms T, std::size_t N, std::size_t J>
inline void sums_block(const LayerCall& c, std::size_t n0, std::size_t p0) {
    V acc[N][J][K];
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t j = 0; j < J; ++j)
            for (std::size_t k = 0; k < K; ++k)
                acc[n][j][k] = splat(0.0);
    const double* g[N];
    const double* x[J];
    for (std::size_t n = 0; n < N; ++n)
        g[n] = c.grad + c.out[n0 + n] * c.stride;
    for (std::size_t j = 0; j < J; ++j)
        x[j] = c.data + c.x[p0 + j] * c.stride;
    auto at = [&](std::size_t n, std::size_t j) { return (n0 + n) * c.pairs + p0 + j; };
    std::size_t b = 0;
    for (; b + 8 <= c.lanes; b += 8) {
        V gv[N][K], xv[J][K];
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t k = 0; k < K; ++k)
                gv[n][k] = load(g[n] + b + k * L);
        for (std::size_t j = 0; j < J; ++j)
            for (std::size_t k = 0; k < K; ++k)
                xv[j][k] = load(x[j] + b + k * L);
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t j = 0; j < J; ++j)
                for (std::size_t k = 0; k < K; ++k)
                    acc[n][j][k] = acc[n][j][k] + with_terms<T>(gv[n][k] * xv[j][k], c, at(n, j));
    }
    if (b < c.lanes)  // the rest in the first sum, in order
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t j = 0; j < J; ++j) {
                double first = lane(acc[n][j][0], 0);
                for (std::size_t r = b; r < c.lanes; ++r)
                    first = first + with_terms<T>(g[n][r] * x[j][r], c, at(n, j));
                set_first(acc[n][j][0], first);
            }
#ifdef MICROGRAD_EIGHT_SUMS
    if constexpr (N * J % L == 0) {  // whole sets of eight vectors
        const V* all = &acc[0][0][0];
        for (std::size_t q = 0; q < N * J; q += L) {  // sums q .. q + L: vectors q * K ..
            double s[L];
            store(s, eight_sums(all + q * K));
            for (std::size_t i = 0; i < L; ++i)
                c.sums[at((q + i) / J, (q + i) % J)] = s[i];
        }
        return;
    }
#endif
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t j = 0; j < J; ++j) {
            double p[8];
            for (std::size_t k = 0; k < K; ++k)
                for (std::size_t i = 0; i < L && k * L + i < 8; ++i)
                    p[k * L + i] = lane(acc[n][j][k], i);
            c.sums[at(n, j)] = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
        }
}

template <Terms T, std::size_t N>
inline void sums_rows(const LayerCall& c, std::size_t n0) {
    std::size_t p = 0;
    for (; p + SJ <= c.pairs; p += SJ)
        sums_block<T, N, SJ>(c, n0, p);
    rest<SJ>(c.pairs - p, [&](auto r) { sums_block<T, N, decltype(r)::value>(c, n0, p); });
}

template <Terms T>
inline void sums(const LayerCall& c) {
    std::size_t n = 0;
    for (; n + SN <= c.members; n += SN)
        sums_rows<T, SN>(c, n);
    rest<SN>(c.members - n, [&](auto r) { sums_rows<T, decltype(r)::value>(c, n); });
}

// The lanes in blocks of VB vectors, then of one (block(std::integral_constant<W>, b0)), within the
// padded lanes; then tail(b), b the first lane past the last whole vector, for the lanes left one by one.
template <class Block, class Tail>
inline void over_lanes(const LayerCall& c, Block block, Tail tail) {
    constexpr std::size_t wide = VB * L;
    std::size_t b = 0;
    for (; b + wide <= c.padded; b += wide)
        block(std::integral_constant<std::size_t, VB>{}, b);
    for (; b + L <= c.padded; b += L)
        block(std::integral_constant<std::size_t, 1>{}, b);
    tail(b);
}

}  // namespace

void forward(const LayerCall& c) {
    over_lanes(
        c, [&](auto w, std::size_t b0) { forward_lanes<decltype(w)::value>(c, b0); },
        [&](std::size_t b) {
            for (std::size_t n = 0; n < c.members; ++n)
                for (std::size_t r = b; r < c.lanes; ++r)
                    forward_lane(c, n, r);
        });
}

void backward(const LayerCall& c) {
    // The sums first: they read x's data and the members' gradients, which the inputs' terms leave as they are.
    if (c.before && c.after0)
        sums<Terms::all>(c);
    else if (c.before)
        sums<Terms::before>(c);
    else if (c.after1)
        sums<Terms::after2>(c);
    else if (c.after0)
        sums<Terms::after>(c);
    else
        sums<Terms::none>(c);
    over_lanes(
        c, [&](auto w, std::size_t b0) { inputs_lanes<decltype(w)::value>(c, b0); },
        [&](std::size_t b) {
            for (std::size_t p = 0; p < c.pairs; ++p)
                for (std::size_t r = b; r < c.lanes; ++r)
                    inputs_lane(c, p, r);
        });
}

}  // namespace micrograd::graph_detail::MICROGRAD_LAYER_NS
