#include "arguments.hpp"

namespace micrograd::python {

bool parse_arguments(const char* function, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                     const char* const* names, Py_ssize_t count, Py_ssize_t required, PyObject** out) {
    for (Py_ssize_t k = 0; k < count; ++k)
        out[k] = nullptr;
    if (nargs > count) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", function, count, nargs);
        return false;
    }
    for (Py_ssize_t i = 0; i < nargs; ++i)
        out[i] = args[i];
    const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; ++i) {
        PyObject* name = PyTuple_GET_ITEM(kwnames, i);
        Py_ssize_t which = -1;
        for (Py_ssize_t k = 0; k < count && which < 0; ++k)
            if (PyUnicode_CompareWithASCIIString(name, names[k]) == 0) which = k;
        if (which < 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", function, name);
            return false;
        }
        if (out[which]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", function, names[which]);
            return false;
        }
        out[which] = args[nargs + i];
    }
    for (Py_ssize_t k = 0; k < required; ++k) {
        if (!out[k]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", function, names[k]);
            return false;
        }
    }
    return true;
}

}  // namespace micrograd::python
