#include "real_number.hpp"

#include "value_type.hpp"

namespace micrograd::python {

namespace {

// 1 if obj is a numbers.Complex but not a numbers.Real, 0 if not, -1 on error.
int is_complex_only(PyObject* obj) {
    static PyObject* complex_abc = nullptr;  // numbers.Complex and numbers.Real, imported once
    static PyObject* real_abc = nullptr;
    if (!complex_abc) {
        PyObject* numbers = PyImport_ImportModule("numbers");
        if (!numbers) return -1;
        complex_abc = PyObject_GetAttrString(numbers, "Complex");
        real_abc = complex_abc ? PyObject_GetAttrString(numbers, "Real") : nullptr;
        Py_DECREF(numbers);
        if (!real_abc) {
            Py_CLEAR(complex_abc);
            return -1;
        }
    }
    const int is_complex = PyObject_IsInstance(obj, complex_abc);
    if (is_complex <= 0) return is_complex;
    const int is_real = PyObject_IsInstance(obj, real_abc);
    return is_real < 0 ? -1 : !is_real;
}

}  // namespace

int to_real_other(PyObject* obj, double* out) {
    if (PyLong_Check(obj)) {
        *out = PyLong_AsDouble(obj);  // OverflowError past ~1.8e308
        return (*out == -1.0 && PyErr_Occurred()) ? -1 : 1;
    }
    if (is_value(obj) || PyComplex_Check(obj)) return 0;  // complex has no __float__; numpy.complex128's drops .imag
    PyNumberMethods* number = Py_TYPE(obj)->tp_as_number;
    if (!number || (!number->nb_float && !number->nb_index)) return 0;
    // Arrays have __float__ too but are not scalars: leave them to their own
    // operators (numpy broadcasts `array * value` over the elements).
    PySequenceMethods* sequence = Py_TYPE(obj)->tp_as_sequence;
    PyMappingMethods* mapping = Py_TYPE(obj)->tp_as_mapping;
    if ((sequence && sequence->sq_length) || (mapping && mapping->mp_length)) return 0;
    // Complex numbers that are not Python complex (numpy.complex64) have a __float__ that drops the
    // imaginary part: they are no real numbers.
    const int complex = is_complex_only(obj);
    if (complex != 0) return complex < 0 ? -1 : 0;
    *out = PyFloat_AsDouble(obj);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 1;
}

void refuse_real(PyObject* obj, const char* what) {
    PyErr_Format(PyExc_TypeError, "%s must be a real number (int, float or an object with __float__), not %.200s", what,
                 Py_TYPE(obj)->tp_name);
}

}  // namespace micrograd::python
