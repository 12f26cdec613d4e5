// The Python type `Value`, written against the CPython C API.
//
// Every `+` and `*` in a user's training loop crosses from Python into C++, so
// Value is a C type: about 15-20 ns per op instead of ~340 ns through a
// pybind11 class. All of its members are in value_type.cpp's own tables (the
// methods of the ops come from the op table); casters.hpp lets pybind11
// functions elsewhere take and return Values. What counts as a real number is
// real_number.hpp's; dot() and sum() are module_functions.cpp's.
#pragma once

#include <Python.h>

#include "micrograd/node.hpp"

namespace micrograd::python {

// A Python Value owns one reference to its node, and is the node's one Python object while it
// lives (the node's handle points back to it): every way of reaching a node gives that object, so
// `c._children[0] is a` and code keyed by id() work. A Value holds no Python objects, so it is not
// tracked by the cyclic GC; interior nodes get a Value only while Python code holds them. The
// nodes of custom ops with a Python backward have a Value of a GC-tracked subtype instead
// (custom_value.hpp).
struct PyValue {
    PyObject_HEAD Node* node;
};

// Creates the type (once; later calls return it again); returns a new
// reference, or null with an exception set.
PyObject* create_value_type();

// The type, once created, and the subtype of custom nodes (custom_value.hpp).
extern PyTypeObject* value_type;
extern PyTypeObject* custom_value_type;

inline bool is_value(PyObject* obj) { return Py_TYPE(obj) == value_type || Py_TYPE(obj) == custom_value_type; }
inline Node* node_of(PyObject* value) { return reinterpret_cast<PyValue*>(value)->node; }

// The node's Python Value, taking over one reference to the node: its existing Value if it has
// one (then the reference is dropped), else a new one. On failure releases the node and returns
// null with an exception set.
PyObject* wrap(Node* node);

}  // namespace micrograd::python
