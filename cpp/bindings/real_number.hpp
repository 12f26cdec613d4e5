// What counts as a real number, for every binding and the Python layer (through _core._real): what
// Value() and the operators take.
#pragma once

#include <Python.h>

namespace micrograd::python {

// Reads a real number: int, float, or any object with __float__ or __index__ (NumPy scalars,
// Fraction, ...), but not a container (a NumPy array broadcasts instead), a string nor a complex
// number (numpy.complex64's __float__ would drop the imaginary part).
// Returns 1 and sets *out; 0 if obj is not a real number (no exception set); -1 if converting it
// raised (its __float__'s own exception, Ctrl-C, an int past 1.8e308: never ours to drop).
inline int to_real(PyObject* obj, double* out);

// Whether reading obj as a real number can run Python code (a __float__, an ABC check): false for
// floats and ints, their subclasses included, whose value C reads directly.
inline bool converting_runs_python(PyObject* obj) { return !PyFloat_Check(obj) && !PyLong_Check(obj); }

int to_real_other(PyObject* obj, double* out);      // to_real for all but a float (real_number.cpp)
void refuse_real(PyObject* obj, const char* what);  // sets real_or_type_error's TypeError

// Inline: every number that dot, sum, the neuron and the operators read comes through here.
inline int to_real(PyObject* obj, double* out) {
    if (PyFloat_Check(obj)) {  // float and its subclasses, numpy.float64 among them
        *out = PyFloat_AS_DOUBLE(obj);
        return 1;
    }
    return to_real_other(obj, out);
}

// to_real, with a TypeError naming `what` for an object that is not a real number: 0 or -1.
inline int real_or_type_error(PyObject* obj, double* out, const char* what) {
    const int found = to_real(obj, out);
    if (found == 0) refuse_real(obj, what);
    return found == 1 ? 0 : -1;
}

}  // namespace micrograd::python
