// The layer kernels for AVX-512 (graph_batch_layer.hpp), built with -mavx512f.
#define MICROGRAD_LAYER_NS avx512
#define MICROGRAD_VEC_BYTES 64
#include "graph_batch_layer_impl.hpp"
