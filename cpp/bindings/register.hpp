// The parts of the _core module, each registered from its own file.
#pragma once

#include <pybind11/pybind11.h>

void register_nn(pybind11::module_& m);     // register_nn.cpp: fused neuron
void register_optim(pybind11::module_& m);  // register_optim.cpp: SGD, Adam
void register_graph(pybind11::module_& m);  // register_graph.cpp: Graph
void register_grad(pybind11::module_& m);   // register_grad.cpp: grad, hessian, the ops of gradient graphs
