// The ops users define in Python, without C++ (issue 17): micrograd's
// `out = Value(x, (self,), 'cube'); out._backward = fn` and microgpt's
// `Value(data, children, local_grads)`, and what every Value shows of its own chain-rule
// step (_backward, _local_grads).
//
// A custom node's backward (a Python callable) is kept in the node (Node::payload), so it
// lives as long as the node, whether or not a Python Value of it does. Its Value is of a
// GC-tracked subtype of Value: the usual closure refers to its own node's Value
// (`out.grad`), a cycle through the node that the collector can only see from that Value.
// While the Value is the node's only owner it reports the callable as its own (tp_traverse)
// and drops it when collected (tp_clear); a node that a graph above still holds keeps it.
#pragma once

#include <Python.h>

#include "micrograd/node.hpp"

namespace micrograd::python {

// Creates the subtype of value_type for custom nodes and sets the core's hooks (once; after
// value_type). 0, or -1 with an exception set.
int create_custom_value_type();

// A new Value of the subtype for an Op::custom node, taking over one reference to it; on
// failure releases the node and returns null with an exception set.
PyObject* wrap_custom(Node* node);

// Value(data, children, op or local_grads), children given (borrowed arguments, null when not
// given): a node of local gradients when local_grads is given, else a custom node named op.
// With no children it is a leaf (of no local gradients, named op). Null with an exception set
// on bad input (TypeError, ValueError).
PyObject* make_custom_value(double data, PyObject* children, PyObject* op, PyObject* local_grads);

// Gives node the op name held by op (a str); 0, or -1 with an exception set.
int set_op_name_from(PyObject* op, Node* node);

// Value._backward (get, set) and Value._local_grads (get).
PyObject* get_backward(PyObject* self, void*);
int set_backward(PyObject* self, PyObject* fn, void*);
PyObject* get_local_grads(PyObject* self, void*);

}  // namespace micrograd::python
