#include "iterables.hpp"

#include <algorithm>
#include <new>

#include "micrograd/graph.hpp"
#include "real_number.hpp"
#include "value_type.hpp"

namespace micrograd::python {

namespace {

const char* items_text(Holds holds) {
    switch (holds) {
        case Holds::values: return "Values";
        case Holds::numbers: return "real numbers";
        case Holds::values_or_numbers: return "Values or real numbers";
        case Holds::rows: return "rows of real numbers";
    }
    return "";
}

bool takes_numbers(Holds holds) { return holds != Holds::values; }  // rows hold numbers, a level down

// "what" or "what[3]", as messages name the argument.
PyObject* name_of(const Expect& expect) {
    return expect.subscript < 0 ? PyUnicode_FromString(expect.what)
                                : PyUnicode_FromFormat("%s[%zd]", expect.what, expect.subscript);
}

// Sets "<what> must be a sequence of <items>, not <type><why>" as a TypeError.
void refuse_argument(PyObject* obj, const Expect& expect, const char* why) {
    PyObject* name = name_of(expect);
    if (!name) return;
    PyErr_Format(PyExc_TypeError, "%U must be %s%s of %s%s%s, not %.200s%s", name,
                 expect.or_one_value ? "a Value or " : "", expect.ordered ? "a sequence" : "an iterable",
                 items_text(expect.holds), expect.also ? " " : "", expect.also ? expect.also : "",
                 Py_TYPE(obj)->tp_name, why);
    Py_DECREF(name);
}

// Iterable, but with an order the caller never wrote down: a set's is its hashes', a dict gives its keys.
bool unordered(PyObject* obj) {
    return PyAnySet_Check(obj) || PyDict_Check(obj) || PyDictKeys_Check(obj) || PyDictValues_Check(obj) ||
           PyDictItems_Check(obj);
}

bool text(PyObject* obj) { return PyUnicode_Check(obj) || PyBytes_Check(obj) || PyByteArray_Check(obj); }

}  // namespace

void refuse_item(PyObject* item, const Expect& expect, Py_ssize_t index) {
    PyObject* name = name_of(expect);
    if (!name) return;
    PyErr_Format(PyExc_TypeError, "%U must hold %s, not %.200s (at index %zd)", name, items_text(expect.holds),
                 Py_TYPE(item)->tp_name, index);
    Py_DECREF(name);
}

// --- Reading -------------------------------------------------------------------------------------

void Reading::Argument::close() {
    Py_CLEAR(owned);
    iterable = sequence = nullptr;
    index = 0;
}

Reading::~Reading() {
    for (Argument& argument : argument_)
        argument.close();
}

bool Reading::open(std::size_t k, PyObject* iterable, Expect expect) {
    Argument& argument = argument_[k];
    argument.close();
    argument.expect = expect;
    if (expect.ordered && unordered(iterable)) {
        refuse_argument(iterable, expect, ": sets, dicts and their views are refused where the order matters "
                                          "(use a list or a tuple)");
        return false;
    }
    if (takes_numbers(expect.holds) && text(iterable)) {
        refuse_argument(iterable, expect, ": text is no numbers");
        return false;
    }
    if (PyList_CheckExact(iterable) || PyTuple_CheckExact(iterable)) {
        argument.sequence = iterable;  // read in place: nothing has run that could have changed it
        return true;
    }
    if (!Py_TYPE(iterable)->tp_iter && !PySequence_Check(iterable)) {  // what iter() refuses, said our way
        refuse_argument(iterable, expect, "");
        return false;
    }
    argument.iterable = iterable;
    return true;
}

int Reading::next(std::size_t k, PyObject** item) {
    Argument& argument = argument_[k];
    if (argument.sequence) {
        if (argument.index >= Py_SIZE(argument.sequence)) return 0;
        *item = PySequence_Fast_GET_ITEM(argument.sequence, argument.index);
        ++argument.index;
        Py_INCREF(*item);
    } else {
        if (!keep_lists_as_given()) return -1;  // its __iter__ and __next__ are Python code
        if (!argument.owned && !(argument.owned = PyObject_GetIter(argument.iterable))) return -1;
        *item = PyIter_Next(argument.owned);
        if (!*item) return PyErr_Occurred() ? -1 : 0;
    }
    // Converting a number other than a float or an int runs Python code (its __float__): before it does,
    // keep what is still to be read as it is now.
    if (takes_numbers(argument.expect.holds) && argument.expect.holds != Holds::rows && !is_value(*item) &&
        converting_runs_python(*item) && !keep_lists_as_given()) {
        Py_CLEAR(*item);
        return -1;
    }
    return 1;
}

Py_ssize_t Reading::remaining(std::size_t k) const {
    const Argument& argument = argument_[k];
    return argument.sequence ? Py_SIZE(argument.sequence) - argument.index : -1;
}

bool Reading::keep_lists_as_given() {
    for (Argument& argument : argument_) {
        if (!argument.sequence || argument.owned || !PyList_CheckExact(argument.sequence)) continue;
        PyObject* rest = PyList_GetSlice(argument.sequence, argument.index, PY_SSIZE_T_MAX);  // runs no Python code
        if (!rest) return false;
        argument.owned = argument.sequence = rest;
        argument.index = 0;
    }
    return true;
}

// --- NodeList ------------------------------------------------------------------------------------

NodeList::~NodeList() {
    for (Node* node : nodes_)
        release(node);
}

bool NodeList::read(Reading& reading, std::size_t k, std::size_t limit) {
    const Py_ssize_t known = reading.remaining(k);
    if (known >= 0 && !grow_to(std::min(std::size_t(known), limit + 1))) return false;
    for (Py_ssize_t index = 0; std::size_t(index) <= limit; ++index) {
        PyObject* item;
        const int got = reading.next(k, &item);
        if (got <= 0) return got == 0;
        const bool ok = append(item, reading.expect(k), index);
        Py_DECREF(item);
        if (!ok) return false;
    }
    return true;
}

bool NodeList::append(double x) {
    if (!room_for_one()) return false;
    try {
        nodes_.push_back(make_leaf(x));  // cannot reallocate: room was made
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
        return false;
    }
    return true;
}

bool NodeList::append(PyObject* item, const Expect& expect, Py_ssize_t index) {
    if (is_value(item)) {
        Node* node = node_of(item);
        if (!room_for_one()) return false;
        if (node->refs == UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "a node is referenced more than 2**32 - 2 times");
            return false;
        }
        ++node->refs;
        nodes_.push_back(node);
        return true;
    }
    double x;
    const int found = expect.holds == Holds::values_or_numbers ? to_real(item, &x) : 0;
    if (found < 0) return false;
    if (found == 0) {
        refuse_item(item, expect, index);
        return false;
    }
    return append(x);
}

bool NodeList::grow_to(std::size_t n) {
    try {
        nodes_.reserve(nodes_.size() + n);
    } catch (const std::exception&) {
        PyErr_NoMemory();
        return false;
    }
    return true;
}

bool NodeList::room_for_one() {
    if (nodes_.size() < nodes_.capacity()) return true;
    return grow_to(nodes_.size() < 8 ? 8 : nodes_.size());  // doubling: linear in all
}

}  // namespace micrograd::python
