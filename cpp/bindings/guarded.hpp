// For the functions written with the C API (the Value type, dot, sum): C++ exceptions must not
// cross into the interpreter, so their bodies run in guarded(), which turns them into Python ones.
#pragma once

#include <Python.h>

#include <new>
#include <stdexcept>

namespace micrograd::python {

// Thrown through C++ code by Python code it called (a custom op's backward) that raised: the
// Python exception is set, and is what the caller sees.
struct python_error_set {};

// body() (a PyObject*, null with an exception set), or null with the Python form of what it threw:
// MemoryError, OverflowError, ValueError (std::invalid_argument), else RuntimeError; the Python
// exception already set for python_error_set.
template <class F>
PyObject* guarded(F&& body) noexcept {
    try {
        return body();
    } catch (const python_error_set&) {
        return nullptr;
    } catch (const std::bad_alloc&) {
        return PyErr_NoMemory();
    } catch (const std::overflow_error& e) {
        PyErr_SetString(PyExc_OverflowError, e.what());
    } catch (const std::invalid_argument& e) {
        PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
    }
    return nullptr;
}

}  // namespace micrograd::python
