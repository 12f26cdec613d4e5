// The benchmarks' clock: the best of a few runs, the least disturbed by others.
#pragma once

#include <algorithm>
#include <chrono>

template <class F>
double best_seconds(F f, int runs) {
    double best = 1e9;
    for (int r = 0; r < runs; ++r) {
        const auto start = std::chrono::steady_clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
}
