#include "micrograd/ops.hpp"

namespace micrograd::ops {

const Info table[] = {
#define MICROGRAD_INFO(id, Struct, arity, name, method, spelling) \
    {Op::id, #id, Arity::arity, name, method, spelling, Struct::doc},
    MICROGRAD_OPS(MICROGRAD_INFO)
#undef MICROGRAD_INFO
};
const std::size_t table_size = sizeof(table) / sizeof(table[0]);

std::string_view name(Op op) {
    switch (op) {
        case Op::leaf: return "";
#define MICROGRAD_NAME(id, Struct, arity, name, ...) \
    case Op::id: return name;
            MICROGRAD_OPS(MICROGRAD_NAME)
            MICROGRAD_USER_OPS(MICROGRAD_NAME)
#undef MICROGRAD_NAME
    }
    return "?";
}

}  // namespace micrograd::ops
