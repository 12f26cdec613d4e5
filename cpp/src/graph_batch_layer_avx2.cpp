// The layer kernels for AVX2 (graph_batch_layer.hpp), built with -mavx2.
#define MICROGRAD_LAYER_NS avx2
#define MICROGRAD_VEC_BYTES 32
#include "graph_batch_layer_impl.hpp"
