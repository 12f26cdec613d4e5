// For the functions written with the C API (the Value type, dot, sum): C++ exceptions must not
// cross into the interpreter, so their bodies run in guarded(), which turns them into Python ones.
#pragma once

#include <Python.h>

#include <new>
#include <stdexcept>

namespace micrograd::python {

// body() (a PyObject*, null with an exception set), or null with the Python form of what it threw:
// MemoryError, OverflowError, ValueError (std::invalid_argument), else RuntimeError.
template <class F>
PyObject* guarded(F&& body) noexcept {
    try {
        return body();
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
