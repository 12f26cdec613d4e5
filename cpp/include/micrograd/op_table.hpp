// The op table: one row per op. Everything that lists ops is made from it: the
// Op enum and the dispatch (ops.hpp), the names (ops.cpp), the C++ functions
// (value.hpp), the ops as functions of the derivative formulas and the nodes
// of gradient graphs (ops.hpp, gradient.cpp), the Python methods and the
// `_core.OPS` tuple (bindings), and through that tuple the type stub and the
// tests.
//
// Adding an op: its struct in ops.hpp (forward formula and derivative side by
// side, the derivative written for any scalar type: then gradient graphs
// differentiate it to any order) and one row here; then one reference row in
// tests/op_reference.py.
//
// Columns:
//   id       the enum name, and the C++ function for a unary op (micrograd::tanh)
//   Struct   the struct in ops.hpp holding its formula and derivative
//   arity    unary, binary, scalar (one operand and a constant, kept in the
//            node), nary (any number of operands)
//   name     the op's name as micrograd prints it in `_op` ("+", "ReLU")
//   method   the Python method on Value ("" when Python spells it otherwise): a
//            unary op's takes no argument, a binary op's one (the second operand)
//   spelling how Python code writes it
#pragma once

// clang-format off
#define MICROGRAD_OPS(X)                                                                             \
    X(add,        Add,       binary,  "+",         "",          "x + y")                             \
    X(sub,        Sub,       binary,  "-",         "",          "x - y")                             \
    X(mul,        Mul,       binary,  "*",         "",          "x * y")                             \
    X(div,        Div,       binary,  "/",         "",          "x / y")                             \
    X(pow,        Pow,       binary,  "**",        "",          "x ** y")                            \
    X(pow_const,  PowConst,  scalar,  "**",        "",          "x ** k")                            \
    X(neg,        Neg,       unary,   "neg",       "",          "-x")                                \
    X(tanh,       Tanh,      unary,   "tanh",      "tanh",      "x.tanh()")                          \
    X(relu,       Relu,      unary,   "ReLU",      "relu",      "x.relu()")                          \
    X(sigmoid,    Sigmoid,   unary,   "sigmoid",   "sigmoid",   "x.sigmoid()")                       \
    X(exp,        Exp,       unary,   "exp",       "exp",       "x.exp()")                           \
    X(log,        Log,       unary,   "log",       "log",       "x.log()")                           \
    X(softplus,   Softplus,  unary,   "softplus",  "softplus",  "x.softplus()")                      \
    X(abs,        Abs,       unary,   "abs",       "abs",       "abs(x), x.abs()")                   \
    X(sqrt,       Sqrt,      unary,   "sqrt",      "sqrt",      "x.sqrt()")                          \
    X(binary_cross_entropy, BinaryCrossEntropy, binary, "binary_cross_entropy", "binary_cross_entropy",   \
      "p.binary_cross_entropy(t)")                                                                   \
    X(sign,       Sign,      unary,   "sign",      "",          "micrograd_cpp._core._sign(x)")      \
    X(mask,       Mask,      binary,  "mask",      "",          "micrograd_cpp._core._mask(x, m)")   \
    X(dot,        Dot,       nary,    "dot",       "",          "micrograd_cpp.dot(a, b)")           \
    X(sum,        Sum,       nary,    "sum",       "",          "micrograd_cpp.sum(values, start)")
// clang-format on

// The ops users define (issue 17), after the built-in ones above: their node's value is given when it
// is made, not computed from its operands (so a Graph cannot replay them), and so is their backward:
//   local_grads  microgpt's Value(data, children, local_grads): the given local derivatives, each
//                times the node's gradient, added to its operand's (constants: no second derivative)
//   custom       micrograd's Value(data, children, op) and out._backward = f: code of the user's, run
//                by a hook that whoever makes such nodes sets (graph.hpp)
// Their `name` is a default: a node keeps the name it was given (label.hpp).
// clang-format off
#define MICROGRAD_USER_OPS(X)                                                                        \
    X(local_grads, LocalGrads, local,  "local_grads", "", "Value(data, children, local_grads)")      \
    X(custom,      Custom,     custom, "",            "", "Value(data, children, op)")
// clang-format on
