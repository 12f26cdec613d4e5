// The arguments of a function called with the vectorcall protocol (METH_FASTCALL | METH_KEYWORDS, and
// Value's constructor), read by name as Python binds them, with Python's own wording for mistakes.
#pragma once

#include <Python.h>

namespace micrograd::python {

// Reads args[0 .. nargs) and the keywords kwnames names (their values after the positional ones)
// into out[0 .. count), by names[0 .. count); out[i] is null for one not given. The first `required`
// must be given. False with a TypeError ("sum() got an unexpected keyword argument 'x'", "missing
// required argument", "takes at most 2 arguments", "got multiple values for argument") otherwise.
bool parse_arguments(const char* function, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                     const char* const* names, Py_ssize_t count, Py_ssize_t required, PyObject** out);

}  // namespace micrograd::python
