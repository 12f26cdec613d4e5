// The binding layer's one reader of Python iterables.
//
// Every iterable a binding takes from Python is read here: dot's and sum's, the fused neuron's weights
// and inputs, Graph's outputs, inputs and map's rows, the optimizers' params. One policy for all:
// - Any iterable is accepted, read once, in its own order; but where the order matters (the items
//   are paired with other items, or with a graph's inputs), a set, a frozenset, a dict or a dict's view
//   is refused: its order is not one the caller wrote down. Where numbers are read, so are str, bytes
//   and bytearray: their items are characters.
// - Every item read is held by a reference of ours until the call ends (NodeList: a reference to its
//   node), so Python code that runs meanwhile (an iterator's __next__, an item's __float__, a __del__)
//   may drop, mutate or replace anything: what was read stays alive.
// - A list is read as it was when the call began: in place while no Python code can have run, and its
//   remaining items copied, into a list of ours, before the first step of the call that can run some.
//   Where none can run at all (the call's iterables are lists and tuples of Values and, where numbers
//   are read, floats and ints), nothing is copied and no reference taken: NodeList borrows the Values'
//   nodes, which the caller's lists hold for the whole call.
// - One wording for what it refuses: "<what> must be a sequence of <items>, not <type>" (or "an
//   iterable of" where the order does not matter), and "<what> must hold <items>, not <type> (at
//   index <i>)" for an item.
// Everything returns false (or -1) with a Python exception set, as the C API does.
#pragma once

#include <Python.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "micrograd/node.hpp"
#include "real_number.hpp"
#include "value_type.hpp"

namespace micrograd::python {

enum class Holds {
    values,             // Values only
    numbers,            // real numbers only (a row of map's)
    values_or_numbers,  // Values, or real numbers that become constant leaves (as in `a * 2.0`)
    rows,               // rows, each an iterable of real numbers (map's rows)
};

// What an iterable argument is, for the policy and the messages.
struct Expect {
    const char* what;  // its name in messages: "Graph inputs", "dot(a, b): a", "rows"
    Holds holds;
    bool ordered;                // the order pairs its items with something: unordered containers are refused
    bool or_one_value = false;   // a single Value is taken too (Graph's outputs), as messages say
    const char* also = nullptr;  // what else is taken, for messages: "or a 2-D float64 array"
    Py_ssize_t subscript = -1;   // for an item of an argument: named what[subscript] ("rows[3]")
};

// Sets "<expect.what> must hold <items>, not <type> (at index <index>)" as a TypeError.
void refuse_item(PyObject* item, const Expect& expect, Py_ssize_t index);

// The iterable arguments of one call (at most two at a time: dot's a and b, the neuron's weights and
// inputs, map's rows and the row being read), each read one item at a time.
class Reading {
public:
    static constexpr std::size_t most = 2;

    Reading() = default;
    Reading(const Reading&) = delete;
    Reading& operator=(const Reading&) = delete;
    ~Reading();

    // Opens iterable (the caller's, alive for the call) as argument k, after the one opened there
    // before, if any; false with TypeError set if the policy refuses it. Runs no Python code: the
    // __iter__ of an iterable that is not a list or a tuple runs at its first next().
    bool open(std::size_t k, PyObject* iterable, const Expect& expect) {
        Argument& argument = argument_[k];
        if (argument.sequence || argument.iterable) argument.close();
        argument.expect = expect;
        // Converting a number other than a float or an int runs Python code (its __float__): before
        // it does, what is still to be read is kept as it is (next()). Rows are iterables, a level up.
        argument.converts_numbers = expect.holds == Holds::numbers || expect.holds == Holds::values_or_numbers;
        runs_no_python_ = -1;
        if (PyList_CheckExact(iterable) || PyTuple_CheckExact(iterable)) {
            argument.sequence = iterable;  // read in place: nothing has run that could have changed it
            return true;
        }
        return open_other(k, iterable);
    }
    // 1 and a new reference in *item; 0 at the end; -1 with an exception set.
    int next(std::size_t k, PyObject** item) {
        Argument& argument = argument_[k];
        if (!argument.sequence) return next_from_iterator(k, item);
        if (argument.index >= Py_SIZE(argument.sequence)) return 0;
        *item = PySequence_Fast_GET_ITEM(argument.sequence, argument.index);
        ++argument.index;
        Py_INCREF(*item);
        return argument.converts_numbers ? before_converting(item) : 1;
    }
    // The number of items of argument k still to come if known (a list or a tuple), else -1.
    Py_ssize_t remaining(std::size_t k) const {
        const Argument& argument = argument_[k];
        return argument.sequence ? Py_SIZE(argument.sequence) - argument.index : -1;
    }
    const Expect& expect(std::size_t k) const { return argument_[k].expect; }
    // Whether reading every argument opened can run no Python code: each is the caller's list or
    // tuple, of Values and, where numbers are read, floats and ints. Then nothing can change them
    // until the call runs Python code again, and NodeList::read borrows their Values' nodes.
    bool runs_no_python();
    // Argument k's list or tuple, read in place, and where it is (for NodeList::read's borrowing).
    PyObject* in_place(std::size_t k) const { return argument_[k].owned ? nullptr : argument_[k].sequence; }
    Py_ssize_t numbers_in_place(std::size_t k) const { return argument_[k].numbers; }  // as runs_no_python() found
    void skip(std::size_t k, Py_ssize_t n) { argument_[k].index += n; }

private:
    struct Argument {
        Expect expect{"", Holds::values, false};
        PyObject* iterable = nullptr;  // the caller's (borrowed), whose iterator is made at the first next()
        PyObject* sequence = nullptr;  // a list or tuple read by index: the caller's (borrowed), or owned
        PyObject* owned = nullptr;     // our copy of a list's rest, or our iterator
        Py_ssize_t index = 0;
        bool converts_numbers = false;  // its items are numbers to convert (Python code may run for one)
        Py_ssize_t numbers = 0;         // how many of its items read in place are numbers (runs_no_python())
        void close();
    };
    // Before a step that can run Python code: copies the rest of every caller's list read in place.
    bool keep_lists_as_given();
    int next_from_iterator(std::size_t k, PyObject** item);
    bool open_other(std::size_t k, PyObject* iterable);  // anything but a list or a tuple: the policy's checks
    // 1 for an item that converting runs no Python code for, or once the lists are kept; else -1 (and *item cleared).
    int before_converting(PyObject** item) {
        if (is_value(*item) || !converting_runs_python(*item) || keep_lists_as_given()) return 1;
        Py_CLEAR(*item);
        return -1;
    }

    Argument argument_[most];
    int runs_no_python_ = -1;  // runs_no_python(), once known (-1: not yet)
};

// Nodes read from Python, each held by a reference of ours until this object ends: a Value's own
// node, or a new constant leaf for a real number. Except where no Python code can run while they are
// read (Reading::runs_no_python): then a Value's node is borrowed from the caller's list or tuple,
// which holds it as long as no Python code runs; such a NodeList is used before any does (to build
// a node, a Graph, an optimizer), and read only after the nodes it appends.
class NodeList {
public:
    NodeList() = default;
    NodeList(const NodeList&) = delete;
    NodeList& operator=(const NodeList&) = delete;
    ~NodeList();

    // Reads argument k to its end, or to limit + 1 items (one more than limit is enough to know).
    bool read(Reading& reading, std::size_t k, std::size_t limit = SIZE_MAX - 1);
    // item as a node: a Value, or a real number where `expect` takes numbers; else refuse_item's TypeError.
    bool append(PyObject* item, const Expect& expect, Py_ssize_t index) {
        if (is_value(item) && !borrowing_ && nodes_.size() < nodes_.capacity() && node_of(item)->refs != UINT32_MAX) {
            ++node_of(item)->refs;
            nodes_.push_back(node_of(item));  // cannot reallocate
            return true;
        }
        return append_other(item, expect, index);
    }
    // Room for the items of argument k still to come, as far as known, up to limit + 1.
    bool reserve(const Reading& reading, std::size_t k, std::size_t limit = SIZE_MAX - 1);
    bool append(double x);  // a constant leaf

    Node* const* data() const { return nodes_.data(); }
    std::size_t size() const { return nodes_.size(); }

private:
    bool append_other(PyObject* item, const Expect& expect, Py_ssize_t index);
    bool grow_to(std::size_t n);  // room for n more nodes (false with MemoryError set when there is none)
    bool room_for_one();

    // The nodes, in order: in the object itself up to a neuron's worth (most calls then allocate
    // nothing), on the heap past that.
    class Nodes {
    public:
        Nodes() = default;
        Nodes(const Nodes&) = delete;
        Nodes& operator=(const Nodes&) = delete;
        Node* const* data() const { return data_; }
        Node** begin() { return data_; }
        Node** end() { return data_ + size_; }
        std::size_t size() const { return size_; }
        std::size_t capacity() const { return capacity_; }
        bool empty() const { return size_ == 0; }
        Node* back() const { return data_[size_ - 1]; }
        void push_back(Node* node) { data_[size_++] = node; }  // only with room made (reserve)
        bool reserve(std::size_t n);                           // room for n nodes in all; false when out of memory
    private:
        static constexpr std::size_t in_place = 16;
        Node* local_[in_place];
        std::unique_ptr<Node*[]> heap_;
        Node** data_ = local_;
        std::size_t size_ = 0, capacity_ = in_place;
    };

    Nodes nodes_;
    bool borrowing_ = false;   // some of nodes_ are borrowed: only held_ hold references of ours
    std::vector<Node*> held_;  // while borrowing_
};

}  // namespace micrograd::python
