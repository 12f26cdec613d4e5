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
// - One wording for what it refuses: "<what> must be a sequence of <items>, not <type>" (or "an
//   iterable of" where the order does not matter), and "<what> must hold <items>, not <type> (at
//   index <i>)" for an item.
// Everything returns false (or -1) with a Python exception set, as the C API does.
#pragma once

#include <Python.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "micrograd/node.hpp"

namespace micrograd::python {

enum class Holds {
    values,             // Values only
    numbers,            // real numbers only (map's rows)
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
    bool open(std::size_t k, PyObject* iterable, Expect expect);
    // 1 and a new reference in *item; 0 at the end; -1 with an exception set.
    int next(std::size_t k, PyObject** item);
    // The number of items of argument k still to come if known (a list or a tuple), else -1.
    Py_ssize_t remaining(std::size_t k) const;
    const Expect& expect(std::size_t k) const { return argument_[k].expect; }

private:
    struct Argument {
        Expect expect{"", Holds::values, false};
        PyObject* iterable = nullptr;  // the caller's (borrowed), whose iterator is made at the first next()
        PyObject* sequence = nullptr;  // a list or tuple read by index: the caller's (borrowed), or owned
        PyObject* owned = nullptr;     // our copy of a list's rest, or our iterator
        Py_ssize_t index = 0;
        void close();
    };
    // Before a step that can run Python code: copies the rest of every caller's list read in place.
    bool keep_lists_as_given();

    Argument argument_[most];
};

// Nodes read from Python, each held by a reference of ours until this object ends: a Value's own
// node, or a new constant leaf for a real number.
class NodeList {
public:
    NodeList() = default;
    NodeList(const NodeList&) = delete;
    NodeList& operator=(const NodeList&) = delete;
    ~NodeList();

    // Reads argument k to its end, or to limit + 1 items (one more than limit is enough to know).
    bool read(Reading& reading, std::size_t k, std::size_t limit = SIZE_MAX - 1);
    // item as a node: a Value, or a real number where `expect` takes numbers; else refuse_item's TypeError.
    bool append(PyObject* item, const Expect& expect, Py_ssize_t index);
    bool append(double x);  // a constant leaf

    Node* const* data() const { return nodes_.data(); }
    std::size_t size() const { return nodes_.size(); }

private:
    bool grow_to(std::size_t n);  // room for n more nodes (false with MemoryError set when there is none)
    bool room_for_one();

    std::vector<Node*> nodes_;
};

}  // namespace micrograd::python
