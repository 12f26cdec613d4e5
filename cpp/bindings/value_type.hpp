// The Python type `Value`, written against the CPython C API.
//
// Every `+` and `*` in a user's training loop crosses from Python into C++, so
// the number protocol, the activations and `.data`/`.grad` are C slots: about
// 20 ns per op instead of ~250 ns through pybind11's overload dispatch. Less
// frequent methods (backward, label, pickling, ...) are bound with pybind11 in
// module.cpp, and value_caster.hpp lets any pybind11 function take and return
// Values.
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

// Creates the type; returns a new reference, or null with an exception set.
PyObject* create_value_type();

// The type, once created.
extern PyTypeObject* value_type;

inline bool is_value(PyObject* obj) { return Py_TYPE(obj) == value_type; }
inline Node* node_of(PyObject* value) { return reinterpret_cast<PyValue*>(value)->node; }

// Wraps node in a new Python Value, taking over one reference to it.
// On failure releases the node and returns null with an exception set.
PyObject* wrap(Node* node);

// Reads a real number: int, float, or any object with __float__ or __index__
// (NumPy scalars, Fraction, ...), but not a container nor a string.
// Returns 1 and sets *out; 0 if obj is not a real number (no exception set);
// -1 if converting it raised.
int to_real(PyObject* obj, double* out);

}  // namespace micrograd::python
