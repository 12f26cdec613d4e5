// The module-level functions of _core written with the C API: dot, sum (they build n-ary nodes from
// iterables as often as the operators build nodes, so they skip pybind11's dispatch) and _real.
#pragma once

#include <Python.h>

namespace micrograd::python {

// Adds them to module; 0, or -1 with an exception set.
int add_module_functions(PyObject* module);

}  // namespace micrograd::python
