// The layer kernels (graph_batch_layer.hpp): the portable ones built here, and
// the pick by the running CPU among them and those of
// graph_batch_layer_avx2.cpp and graph_batch_layer_avx512.cpp (x86-64, GCC and
// Clang: built with their sets' flags, cpp/CMakeLists.txt).
#define MICROGRAD_LAYER_NS generic
#define MICROGRAD_VEC_BYTES 16
#include "graph_batch_layer_impl.hpp"

#include <cstdlib>
#include <cstring>

namespace micrograd::graph_detail {

#if defined(MICROGRAD_LAYER_X86)
namespace avx2 {
void forward(const LayerCall& c);
void backward(const LayerCall& c);
}  // namespace avx2
namespace avx512 {
void forward(const LayerCall& c);
void backward(const LayerCall& c);
}  // namespace avx512
#endif

namespace {

LayerKernels pick() {
    const char* asked = std::getenv("MICROGRAD_KERNEL_ISA");
    auto allowed = [&](const char* name) {
        if (!asked || !*asked) return true;
        if (std::strcmp(asked, "generic") == 0 || std::strcmp(asked, "steps") == 0) return false;
        if (std::strcmp(asked, "avx2") == 0) return std::strcmp(name, "avx2") == 0;
        return true;
    };
#if defined(MICROGRAD_LAYER_X86)
    __builtin_cpu_init();
    if (allowed("avx512") && __builtin_cpu_supports("avx512f")) return {"avx512", avx512::forward, avx512::backward};
    if (allowed("avx2") && __builtin_cpu_supports("avx2")) return {"avx2", avx2::forward, avx2::backward};
#else
    (void)allowed;
#endif
    if (asked && std::strcmp(asked, "steps") == 0) return {"steps", generic::forward, generic::backward};
    return {"generic", generic::forward, generic::backward};
}

}  // namespace

const LayerKernels& layer_kernels() {
    static const LayerKernels kernels = pick();
    return kernels;
}

}  // namespace micrograd::graph_detail
