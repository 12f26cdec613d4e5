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

bool Reading::open_other(std::size_t k, PyObject* iterable) {
    Argument& argument = argument_[k];
    const Expect& expect = argument.expect;
    if (expect.ordered && unordered(iterable)) {
        refuse_argument(iterable, expect,
                        ": sets, dicts and their views are refused where the order matters "
                        "(use a list or a tuple)");
        return false;
    }
    if (takes_numbers(expect.holds) && text(iterable)) {
        refuse_argument(iterable, expect, ": text is no numbers");
        return false;
    }
    if (!Py_TYPE(iterable)->tp_iter && !PySequence_Check(iterable)) {  // what iter() refuses, said our way
        refuse_argument(iterable, expect, "");
        return false;
    }
    argument.iterable = iterable;
    return true;
}

int Reading::next_from_iterator(std::size_t k, PyObject** item) {
    Argument& argument = argument_[k];
    if (!keep_lists_as_given()) return -1;  // its __iter__ and __next__ are Python code
    if (!argument.owned && !(argument.owned = PyObject_GetIter(argument.iterable))) return -1;
    *item = PyIter_Next(argument.owned);
    if (!*item) return PyErr_Occurred() ? -1 : 0;
    return argument.converts_numbers ? before_converting(item) : 1;
}

bool Reading::runs_no_python() {
    if (runs_no_python_ >= 0) return runs_no_python_ == 1;
    runs_no_python_ = 1;
    for (Argument& argument : argument_) {
        if (!argument.sequence && !argument.iterable) continue;  // not opened
        if (!argument.sequence || argument.owned) {
            runs_no_python_ = 0;  // an iterator, or a list copied since (Python code has run)
            break;
        }
        // Of Values only, nothing in it runs Python code: an item that is no Value is refused as read.
        argument.numbers = 0;
        if (!argument.converts_numbers) continue;
        PyObject* const* items = PySequence_Fast_ITEMS(argument.sequence);
        PyTypeObject* const type = value_type;
        Py_ssize_t numbers = 0;
        for (Py_ssize_t i = argument.index, n = Py_SIZE(argument.sequence); i < n; ++i) {
            PyObject* item = items[i];
            if (Py_TYPE(item) == type || is_value(item)) continue;
            if (converting_runs_python(item)) {
                runs_no_python_ = 0;
                return false;
            }
            ++numbers;
        }
        argument.numbers = numbers;
    }
    return runs_no_python_ == 1;
}

bool Reading::keep_lists_as_given() {
    runs_no_python_ = 0;
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
    if (borrowing_) {
        for (Node* node : held_)
            release(node);
        return;
    }
    for (Node* node : nodes_)
        release(node);
}

bool NodeList::reserve(const Reading& reading, std::size_t k, std::size_t limit) {
    const Py_ssize_t known = reading.remaining(k);
    return known < 0 || grow_to(std::min(std::size_t(known), limit + 1));
}

bool NodeList::read(Reading& reading, std::size_t k, std::size_t limit) {
    if (!reserve(reading, k, limit)) return false;
    if (PyObject* sequence = reading.runs_no_python() ? reading.in_place(k) : nullptr) {
        // Nothing can run that could drop them: the Values' nodes are borrowed, numbers become leaves held here.
        const Py_ssize_t n = std::min<Py_ssize_t>(reading.remaining(k),
                                                  Py_ssize_t(std::min<std::size_t>(limit, PY_SSIZE_T_MAX - 1)) + 1);
        try {
            if (!borrowing_ && !nodes_.empty()) held_.assign(nodes_.begin(), nodes_.end());  // appended before: held
            if (const Py_ssize_t numbers = reading.numbers_in_place(k))
                held_.reserve(held_.size() + std::size_t(numbers));
        } catch (const std::bad_alloc&) {
            PyErr_NoMemory();
            return false;
        }
        borrowing_ = true;
        PyObject** items = PySequence_Fast_ITEMS(sequence) + (Py_SIZE(sequence) - reading.remaining(k));
        PyTypeObject* const type = value_type;
        const Expect& expect = reading.expect(k);
        for (Py_ssize_t i = 0; i < n; ++i) {
            if (Py_TYPE(items[i]) == type || is_value(items[i])) {
                nodes_.push_back(node_of(items[i]));  // cannot reallocate: reserved
                continue;
            }
            if (expect.holds != Holds::values_or_numbers) {
                refuse_item(items[i], expect, i);
                return false;
            }
            double x;
            if (to_real(items[i], &x) < 0 || !append(x)) return false;  // an int past 1.8e308; MemoryError
        }
        reading.skip(k, n);
        return true;
    }
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
    Node* leaf = nullptr;
    try {
        leaf = make_leaf(x);
        if (borrowing_) held_.push_back(leaf);
    } catch (const std::bad_alloc&) {
        if (leaf) release(leaf);
        PyErr_NoMemory();
        return false;
    }
    nodes_.push_back(leaf);  // cannot reallocate: room was made
    return true;
}

bool NodeList::append_other(PyObject* item, const Expect& expect, Py_ssize_t index) {
    if (is_value(item)) {
        Node* node = node_of(item);
        if (!room_for_one()) return false;
        if (node->refs == UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "a node is referenced more than 2**32 - 2 times");
            return false;
        }
        if (borrowing_) {
            try {
                held_.push_back(node);
            } catch (const std::bad_alloc&) {
                PyErr_NoMemory();
                return false;
            }
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

bool NodeList::Nodes::reserve(std::size_t n) {
    if (n <= capacity_) return true;
    std::unique_ptr<Node*[]> more(new (std::nothrow) Node*[n]);
    if (!more) return false;
    std::copy(data_, data_ + size_, more.get());
    heap_ = std::move(more);
    data_ = heap_.get();
    capacity_ = n;
    return true;
}

bool NodeList::grow_to(std::size_t n) {
    if (n > SIZE_MAX / sizeof(Node*) - nodes_.size() || !nodes_.reserve(nodes_.size() + n)) {
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
