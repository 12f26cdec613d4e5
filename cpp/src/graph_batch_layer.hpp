// A layer of the batch (graph_batch_kernel.hpp's Group) as matrix products
// over a chunk of lanes: members x lanes, register-blocked, each loaded lane
// used by several members (and each weight by several lanes).
//
// Exactness: blocking only chooses which sums run side by side, never the
// order of one: member n's fold is start + w[n][0] * x_0 + w[n][1] * x_1 + ...,
// left to right, as its Dot step sums it; x_j's gradient in a lane gets its
// terms g_n * w[n][j] from the last member to the first, as the members' steps
// backward give them; and the sum over the lanes of g_n * x_j is taken by eight
// running sums, lane b in sum b % 8 (the rest in the first), combined as
// sum_over_lanes combines them. No fused multiply-add (micrograd_fp).
// A weight's row terms (RowTerms) are added to each lane's term as
// sum_to_uniform adds them; where a weight has none, or fewer, the 0.0 added
// changes no sum but for the sign of a zero term, and a sum from 0.0 is never
// -0.0, so adding +0.0 or -0.0 to it gives the same bits.
//
// The kernels are built for each instruction set (graph_batch_layer_impl.hpp,
// included by one file per set) and picked once by the running CPU; the
// environment variable MICROGRAD_KERNEL_ISA (generic, avx2, avx512) asks for a
// narrower one, and "steps" for no layers at all: each Dot its own step, as
// before layers were grouped (the tests and benchmarks compare them).
#pragma once

#include <cstddef>
#include <cstdint>

namespace micrograd::graph_detail {

struct LayerCall {
    // lanes: the rows of the chunk; padded (lanes up to a multiple of 8, within stride): the lanes the
    // products run over, those past lanes computed and never read (no sum reads them).
    std::size_t members, pairs, lanes, padded, stride;
    double* data;  // lanes: value v of lane b at data[v * stride + b]
    double* grad;
    const std::uint32_t* x;      // the pairs' lane slots
    const std::uint32_t* out;    // per member: its lane slot
    const std::uint32_t* start;  // per member: its start's lane slot, or (top bit set) start_value's
    const double* start_value;   // per member
    const double* w;             // members x pairs, member by member
    double* sums;                // members x pairs: the sums over the lanes of g_n * x_j (backward)
    // Or, where some are not null (a weight also read by a step whose gradient is the same in every
    // row: RowTerms), each members x pairs: of ((before + g_n * x_j) + after0) + after1 where all three
    // are; before + g_n * x_j where only before is (no weight has terms after); (g_n * x_j + after0) +
    // after1 where only the two after are (no weight has terms before), and without after1 where
    // no weight has two after.
    const double* before = nullptr;
    const double* after0 = nullptr;
    const double* after1 = nullptr;
};

struct LayerKernels {
    const char* name;                    // avx512, avx2, generic, or steps (group no layers)
    void (*forward)(const LayerCall&);   // each member's lanes out
    void (*backward)(const LayerCall&);  // x_j's lane gradients, and sums
};

const LayerKernels& layer_kernels();

}  // namespace micrograd::graph_detail
