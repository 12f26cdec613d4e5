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

// A Python Value owns one reference to its node. It holds no Python objects,
// so it is not tracked by the cyclic GC. Interior nodes get a wrapper only
// while Python code holds them.
struct PyValue {
    PyObject_HEAD Node* node;
};

// Creates the type (once; later calls return it again); returns a new
// reference, or null with an exception set.
PyObject* create_value_type();

// The type, once created.
extern PyTypeObject* value_type;

inline bool is_value(PyObject* obj) { return Py_TYPE(obj) == value_type; }
inline Node* node_of(PyObject* value) { return reinterpret_cast<PyValue*>(value)->node; }

// Wraps node in a new Python Value, taking over one reference to it.
// On failure releases the node and returns null with an exception set.
PyObject* wrap(Node* node);

}  // namespace micrograd::python
