#define PY_SSIZE_T_CLEAN
#include "module_functions.hpp"

#include <cmath>
#include <vector>

#include "arguments.hpp"
#include "guarded.hpp"
#include "iterables.hpp"
#include "micrograd/graph.hpp"
#include "real_number.hpp"
#include "value_type.hpp"

namespace micrograd::python {

namespace {

PyObject* dot_function(PyObject* /*module*/, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[2] = {"a", "b"};
    PyObject* arg[2];
    if (!parse_arguments("dot", args, nargs, kwnames, names, 2, 2, arg)) return nullptr;
    // a and b in step, as zip() reads them: an endless one is caught one item past the other's end.
    Reading reading;
    const Expect expect[2] = {{"dot(a, b): a", Holds::values_or_numbers, true},
                              {"dot(a, b): b", Holds::values_or_numbers, true}};
    for (int k = 0; k < 2; ++k)
        if (!reading.open(k, arg[k], expect[k])) return nullptr;
    NodeList nodes[2];
    for (int k = 0; k < 2; ++k)
        if (!nodes[k].reserve(reading, k)) return nullptr;
    for (Py_ssize_t index = 0;; ++index) {
        PyObject* item[2] = {nullptr, nullptr};
        int got[2];
        for (int k = 0; k < 2; ++k) {
            got[k] = reading.next(k, &item[k]);
            if (got[k] < 0) {
                Py_XDECREF(item[0]);
                return nullptr;
            }
        }
        if (got[0] != got[1]) {  // one ended first
            Py_XDECREF(item[0]);
            Py_XDECREF(item[1]);
            // index items of the one that ended; the other's count if it is a list or tuple.
            const Py_ssize_t rest = reading.remaining(got[0] ? 0 : 1);
            char count[64];
            if (rest >= 0)
                PyOS_snprintf(count, sizeof count, "%zd", index + 1 + rest);
            else
                PyOS_snprintf(count, sizeof count, "at least %zd", index + 1);
            if (got[0]) return PyErr_Format(PyExc_ValueError, "dot(a, b): a has %s items but b has %zd", count, index);
            return PyErr_Format(PyExc_ValueError, "dot(a, b): a has %zd items but b has %s", index, count);
        }
        if (got[0] == 0) break;
        bool ok = true;
        for (int k = 0; k < 2; ++k) {
            ok = ok && nodes[k].append(item[k], expect[k], index);
            Py_DECREF(item[k]);
        }
        if (!ok) return nullptr;
    }
    NodeList& a = nodes[0];
    NodeList& b = nodes[1];
    return guarded([&]() -> PyObject* {
        if (a.size() == 0) return wrap(make_leaf(0.0));  // Python's sum of nothing: 0
        std::vector<Node*> pairs(2 * a.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
            pairs[2 * i] = a.data()[i];
            pairs[2 * i + 1] = b.data()[i];
        }
        return wrap(make_nary(Op::dot, pairs.data(), pairs.size()));
    });
}

PyObject* sum_function(PyObject* /*module*/, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[2] = {"values", "start"};
    PyObject* arg[2];
    if (!parse_arguments("sum", args, nargs, kwnames, names, 2, 1, arg)) return nullptr;
    NodeList values;
    // An explicit start other than +0.0 is the fold's first operand; Python's
    // default 0 (or an explicit 0) is the fold's own 0.0.
    PyObject* start = arg[1];
    double start_number = 0.0;
    if (start && !is_value(start)) {
        const int found = to_real(start, &start_number);
        if (found < 0) return nullptr;
        if (found == 0) {
            return PyErr_Format(PyExc_TypeError, "sum(): start must be a Value or a real number, not %.200s",
                                Py_TYPE(start)->tp_name);
        }
    }
    const Expect expect{"sum(values)", Holds::values_or_numbers, false};  // a sum in any order is the sum
    const bool explicit_start = start && (is_value(start) || start_number != 0.0 || std::signbit(start_number));
    if (explicit_start && !(is_value(start) ? values.append(start, expect, 0) : values.append(start_number)))
        return nullptr;
    Reading reading;
    if (!reading.open(0, arg[0], expect) || !values.read(reading, 0)) return nullptr;
    const std::size_t terms = values.size() - (explicit_start ? 1 : 0);
    if (terms == 0) {  // Python's sum of nothing is start
        if (start && is_value(start)) {
            Py_INCREF(start);
            return start;
        }
        return guarded([&] { return wrap(make_leaf(start_number)); });
    }
    return guarded([&] { return wrap(make_nary(Op::sum, values.data(), values.size(), explicit_start)); });
}

// The one rule for "a real number", for the Python layer too (losses, nn's
// load_state_dict): what Value() and the operators take.
PyObject* real_function(PyObject* /*module*/, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        return PyErr_Format(PyExc_TypeError, "_real(x, what): x and a str naming it, not %zd arguments", nargs);
    }
    const char* what = PyUnicode_AsUTF8(args[1]);
    double x;
    if (!what || real_or_type_error(args[0], &x, what) < 0) return nullptr;
    return PyFloat_FromDouble(x);
}

PyMethodDef module_functions[] = {
    {"dot", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(dot_function)), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("dot(a, b)\n--\n\n"
               "sum(a[i] * b[i]) as one Value (op 'dot'), built in one call: the value of Python's\n"
               "sum(x * y for x, y in zip(a, b)) over Values bit for bit, with the gradient of every a[i]\n"
               "and b[i].\n\n"
               "a, b: iterables of Values or real numbers (numbers become constant Values, as in a * 2.0),\n"
               "read in step, of equal length (ValueError otherwise), in order (sets and dicts: TypeError).\n"
               "Empty: Value(0.0).")},
    {"sum", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(sum_function)), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("sum(values, start=0)\n--\n\n"
               "start + values[0] + values[1] + ... as one Value (op 'sum'), built in one call: the value\n"
               "of Python's sum(values, start) over Values bit for bit (left to right, in floating point),\n"
               "with the gradient of every term.\n\n"
               "values: an iterable of Values or real numbers; a number becomes a constant Value first, as in\n"
               "v + 2, so plain numbers are added as floats (Python adds ints exactly, and floats with\n"
               "compensation from 3.12). start: a Value or a real number. Empty values: start itself (a Value\n"
               "for a number).")},
    {"_real", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(real_function)), METH_FASTCALL,
     PyDoc_STR("_real(x, what, /)\n--\n\n"
               "x as a float if it is a real number as Value() takes it (int, float, bool, or an object with\n"
               "__float__ or __index__ that is not a container nor a complex number); else a TypeError\n"
               "naming `what`. The package's one rule for real numbers.")},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

int add_module_functions(PyObject* module) { return PyModule_AddFunctions(module, module_functions); }

}  // namespace micrograd::python
