#include "micrograd/ops.hpp"

namespace micrograd::ops {

std::string_view name(Op op) {
    switch (op) {
        case Op::leaf: return "";
        case Op::add: return "+";
        case Op::sub: return "-";
        case Op::mul: return "*";
        case Op::div: return "/";
        case Op::neg: return "neg";
        case Op::pow_const: return "**";
        case Op::pow: return "**";
        case Op::tanh: return "tanh";
        case Op::relu: return "ReLU";
        case Op::sigmoid: return "sigmoid";
        case Op::exp: return "exp";
        case Op::log: return "log";
        case Op::softplus: return "softplus";
    }
    return "?";
}

}  // namespace micrograd::ops
