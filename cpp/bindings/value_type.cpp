#define PY_SSIZE_T_CLEAN
#include "value_type.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "micrograd/graph.hpp"
#include "micrograd/label.hpp"
#include "micrograd/ops.hpp"

namespace micrograd::python {

PyTypeObject* value_type = nullptr;

namespace {

// C++ exceptions must not cross into the interpreter: turn them into Python ones.
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

PyObject* not_implemented() {
    Py_INCREF(Py_NotImplemented);
    return Py_NotImplemented;
}

// An operand as a node: a Value's own node, or a new constant leaf for a
// plain number (as micrograd does: `a * 2.0` has the leaf 2.0 among its _prev).
class Operand {
public:
    // 1: loaded; 0: obj is neither a Value nor a real number; -1: error set.
    int load(PyObject* obj) {
        if (is_value(obj)) {
            node_ = node_of(obj);
            return 1;
        }
        double x;
        const int found = to_real(obj, &x);
        if (found == 1) {
            node_ = make_leaf(x);
            owned_ = true;
        }
        return found;
    }
    Node* node() const { return node_; }
    ~Operand() {
        if (owned_) release(node_);
    }

private:
    Node* node_ = nullptr;
    bool owned_ = false;
};

template <Op op>
PyObject* binary_slot(PyObject* x, PyObject* y) {
    if (is_value(x) && is_value(y)) {  // fast path: no operand conversion
        return guarded([&] { return wrap(make_binary(op, node_of(x), node_of(y))); });
    }
    return guarded([&]() -> PyObject* {
        Operand a, b;
        int loaded = a.load(x);
        if (loaded == 1) loaded = b.load(y);
        if (loaded < 0) return nullptr;
        if (loaded == 0) return not_implemented();  // Python tries the other operand, then raises TypeError
        return wrap(make_binary(op, a.node(), b.node()));
    });
}

PyObject* power_slot(PyObject* base, PyObject* exponent, PyObject* modulus) {
    if (modulus != Py_None) return not_implemented();
    if (is_value(base) && !is_value(exponent)) {  // x ** k, k constant: micrograd's "**k"
        double k;
        const int found = to_real(exponent, &k);
        if (found <= 0) return found < 0 ? nullptr : not_implemented();
        const bool integer = PyIndex_Check(exponent);  // int, bool, numpy integers
        return guarded([&] { return wrap(make_pow_const(node_of(base), k, integer)); });
    }
    return binary_slot<Op::pow>(base, exponent);
}

// -x and abs(x): Python's unary operators for two unary ops of the table.
template <Op op>
PyObject* unary_slot(PyObject* x) {
    return guarded([&] { return wrap(make_unary(op, node_of(x))); });
}

template <Op op>
PyObject* unary_method(PyObject* self, PyObject* /*unused*/) {
    return guarded([&] { return wrap(make_unary(op, node_of(self))); });
}

// The seed API's a.add(b) / a.mul(b): like the operators, but a bad operand is
// a TypeError right away.
template <Op op>
PyObject* binary_method(PyObject* self, PyObject* other) {
    PyObject* result = binary_slot<op>(self, other);
    if (result == Py_NotImplemented) {
        Py_DECREF(result);
        return PyErr_Format(PyExc_TypeError, "operand must be a Value or a real number, not %.200s",
                            Py_TYPE(other)->tp_name);
    }
    return result;
}

// --- the graph: backward, zero_grad, operands, op name -------------------------

PyObject* backward_method(PyObject* self, PyObject* /*unused*/) {
    return guarded([&]() -> PyObject* {
        backward(node_of(self));
        Py_RETURN_NONE;
    });
}

PyObject* zero_grad_method(PyObject* self, PyObject* /*unused*/) {
    return guarded([&]() -> PyObject* {
        zero_grad(node_of(self));
        Py_RETURN_NONE;
    });
}

// The operands as new Python Values, first operand first, in a tuple.
PyObject* children_tuple(const Node* node) {
    std::vector<Node*> children;
    node->for_each_child([&children](Node* child) { children.push_back(child); });
    PyObject* out = PyTuple_New(Py_ssize_t(children.size()));
    if (!out) return nullptr;
    for (std::size_t i = 0; i < children.size(); ++i) {
        try {
            retain(children[i]);
        } catch (...) {
            Py_DECREF(out);
            throw;
        }
        PyObject* item = wrap(children[i]);
        if (!item) {
            Py_DECREF(out);
            return nullptr;
        }
        PyTuple_SET_ITEM(out, Py_ssize_t(i), item);
    }
    return out;
}

PyObject* get_children(PyObject* self, void*) {
    return guarded([&] { return children_tuple(node_of(self)); });
}

PyObject* get_prev(PyObject* self, void*) {
    PyObject* children = get_children(self, nullptr);
    if (!children) return nullptr;
    PyObject* out = PySet_New(children);
    Py_DECREF(children);
    return out;
}

// micrograd's op names; a constant power prints its exponent as Python would ("**2", "**0.5").
PyObject* get_op(PyObject* self, void*) {
    const Node* node = node_of(self);
    const std::string_view name = ops::name(node->op);
    PyObject* text = PyUnicode_FromStringAndSize(name.data(), Py_ssize_t(name.size()));
    if (!text || node->op != Op::pow_const) return text;
    const double k = node->exponent;
    const bool as_int = node->test(Node::integer_exponent) && std::abs(k) < 9.0e15;
    PyObject* number = as_int ? PyLong_FromLongLong(static_cast<long long>(k)) : PyFloat_FromDouble(k);
    PyObject* shown = number ? (as_int ? PyObject_Str(number) : PyObject_Repr(number)) : nullptr;
    Py_XDECREF(number);
    PyObject* out = shown ? PyUnicode_Concat(text, shown) : nullptr;
    Py_XDECREF(shown);
    Py_DECREF(text);
    return out;
}

PyObject* get_label(PyObject* self, void*) {
    const std::string& text = label(node_of(self));
    return PyUnicode_DecodeUTF8(text.data(), Py_ssize_t(text.size()), "strict");
}

int label_from(PyObject* obj, Node* node);

int set_label_attr(PyObject* self, PyObject* obj, void*) {
    if (!obj) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete Value.label (set it to '' instead)");
        return -1;
    }
    return label_from(obj, node_of(self));
}

// In Jupyter, a Value shows its graph: drawing lives in Python (micrograd_cpp.viz).
PyObject* repr_svg_method(PyObject* self, PyObject* /*unused*/) {
    PyObject* viz = PyImport_ImportModule("micrograd_cpp.viz");
    if (!viz) return nullptr;
    PyObject* out = PyObject_CallMethod(viz, "_repr_svg_", "O", self);
    Py_DECREF(viz);
    return out;
}

// --- construction, lifetime, identity ----------------------------------------

int label_from(PyObject* obj, Node* node) {
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "label must be a str, not %.200s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t size;
    const char* text = PyUnicode_AsUTF8AndSize(obj, &size);  // a lone surrogate: UnicodeEncodeError
    if (!text) return -1;
    PyObject* ok = guarded([&]() -> PyObject* {
        set_label(node, std::string(text, static_cast<size_t>(size)));
        Py_RETURN_NONE;
    });
    if (!ok) return -1;
    Py_DECREF(ok);
    return 0;
}

int real_or_type_error(PyObject* obj, double* out, const char* what) {
    const int found = to_real(obj, out);
    if (found == 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a real number (int, float or an object with __float__), not %.200s",
                     what, Py_TYPE(obj)->tp_name);
    }
    return found == 1 ? 0 : -1;
}

PyObject* new_leaf(PyObject* data_obj, PyObject* label_obj) {
    double data;
    if (real_or_type_error(data_obj, &data, "Value() data") < 0) return nullptr;
    return guarded([&]() -> PyObject* {
        PyObject* self = wrap(make_leaf(data));
        if (self && label_obj && label_from(label_obj, node_of(self)) < 0) Py_CLEAR(self);
        return self;
    });
}

PyObject* value_new(PyTypeObject* /*type*/, PyObject* args, PyObject* kwargs) {
    static const char* keywords[] = {"data", "label", nullptr};
    PyObject* data_obj;
    PyObject* label_obj = nullptr;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:Value", const_cast<char**>(keywords), &data_obj, &label_obj))
        return nullptr;
    return new_leaf(data_obj, label_obj);
}

// Value(x) is called once per input in micrograd-style code: the vectorcall
// protocol skips building an argument tuple (48 -> 20 ns).
PyObject* value_vectorcall(PyObject* /*type*/, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
    const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 1 && !kwnames) return new_leaf(args[0], nullptr);
    if (nargs > 2) return PyErr_Format(PyExc_TypeError, "Value() takes at most 2 arguments (%zd given)", nargs);
    PyObject* slots[2] = {nargs > 0 ? args[0] : nullptr, nargs > 1 ? args[1] : nullptr};
    const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; ++i) {
        PyObject* name = PyTuple_GET_ITEM(kwnames, i);
        const int which = PyUnicode_CompareWithASCIIString(name, "data") == 0    ? 0
                          : PyUnicode_CompareWithASCIIString(name, "label") == 0 ? 1
                                                                                 : -1;
        if (which < 0) return PyErr_Format(PyExc_TypeError, "Value() got an unexpected keyword argument '%U'", name);
        if (slots[which]) return PyErr_Format(PyExc_TypeError, "Value() got multiple values for argument '%U'", name);
        slots[which] = args[nargs + i];
    }
    if (!slots[0]) return PyErr_Format(PyExc_TypeError, "Value() missing required argument 'data'");
    return new_leaf(slots[0], slots[1]);
}

// Freed wrappers kept for reuse, as CPython does for floats: every op makes one
// and most die at once. Guarded by the GIL.
struct WrapperFreeList {
    static constexpr int capacity = 256;
    PyObject* items[capacity];
    int size = 0;
} free_wrappers;

void value_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    release(node_of(self));  // frees the graph below it too, iteratively, when this was its last owner
    if (free_wrappers.size < WrapperFreeList::capacity)
        free_wrappers.items[free_wrappers.size++] = self;
    else
        PyObject_Free(self);
    Py_DECREF(type);
}

// Two wrappers of one node are the same Value: equal, with equal hashes.
Py_hash_t value_hash(PyObject* self) {
    auto h = static_cast<Py_hash_t>(reinterpret_cast<std::uintptr_t>(node_of(self)) >> 4);
    return h == -1 ? -2 : h;
}

PyObject* value_richcompare(PyObject* x, PyObject* y, int op) {
    if (!is_value(x) || !is_value(y) || (op != Py_EQ && op != Py_NE)) return not_implemented();
    const bool same = node_of(x) == node_of(y);
    return PyBool_FromLong((op == Py_EQ) == same);
}

PyObject* float_repr(double x) {
    char* text = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, nullptr);
    if (!text) return nullptr;
    PyObject* out = PyUnicode_FromString(text);
    PyMem_Free(text);
    return out;
}

// micrograd's form, "Value(data=2.0, grad=0.0)", plus the label when set.
PyObject* value_repr(PyObject* self) {
    const Node* node = node_of(self);
    PyObject* data = float_repr(node->data);
    PyObject* grad = data ? float_repr(node->grad) : nullptr;
    PyObject* out = nullptr;
    if (grad) {
        const std::string& text = label(node);
        if (text.empty()) {
            out = PyUnicode_FromFormat("Value(data=%U, grad=%U)", data, grad);
        } else if (PyObject* label_obj = PyUnicode_FromStringAndSize(text.data(), Py_ssize_t(text.size()))) {
            out = PyUnicode_FromFormat("Value(data=%U, grad=%U, label=%R)", data, grad, label_obj);
            Py_DECREF(label_obj);
        }
    }
    Py_XDECREF(data);
    Py_XDECREF(grad);
    return out;
}

// --- .data and .grad: plain floats, read and written from the update loop ----

PyObject* get_data(PyObject* self, void*) { return PyFloat_FromDouble(node_of(self)->data); }
PyObject* get_grad(PyObject* self, void*) { return PyFloat_FromDouble(node_of(self)->grad); }

int set_number(PyObject* obj, double* target, const char* what) {
    if (!obj) {
        PyErr_Format(PyExc_AttributeError, "cannot delete %s", what);
        return -1;
    }
    if (PyFloat_CheckExact(obj)) {
        *target = PyFloat_AS_DOUBLE(obj);
        return 0;
    }
    double x;  // not into *target: a failed conversion leaves the field as it was
    if (real_or_type_error(obj, &x, what) < 0) return -1;
    *target = x;
    return 0;
}

int set_data(PyObject* self, PyObject* obj, void*) { return set_number(obj, &node_of(self)->data, "Value.data"); }
int set_grad(PyObject* self, PyObject* obj, void*) { return set_number(obj, &node_of(self)->grad, "Value.grad"); }

PyGetSetDef value_getset[] = {
    {"data", get_data, set_data, PyDoc_STR("The scalar this node holds (a float)."), nullptr},
    {"grad", get_grad, set_grad, PyDoc_STR("d(root)/d(self) after root.backward() (a float)."), nullptr},
    {"label", get_label, set_label_attr, PyDoc_STR("A name for this node, shown in repr and drawings ('' when unset)."),
     nullptr},
    {"_op", get_op, nullptr,
     PyDoc_STR("The op that made this node, as micrograd names it: '' for a leaf, '+', '**2', 'ReLU', 'dot', ...\n"
               "(the names of micrograd_cpp._core.OPS)."),
     nullptr},
    {"_prev", get_prev, nullptr, PyDoc_STR("The set of operand Values (as in micrograd)."), nullptr},
    {"_children", get_children, nullptr,
     PyDoc_STR("The operands in order (first operand first), a tuple of Values; an operand used twice is there twice."),
     nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

// Pickling and copying keep a Value as a leaf: its data, label and grad, not
// the graph that made it.
PyObject* value_reduce(PyObject* self, PyObject* /*unused*/) {
    const Node* node = node_of(self);
    const std::string& text = label(node);
    return Py_BuildValue("(O(ds#)d)", reinterpret_cast<PyObject*>(Py_TYPE(self)), node->data, text.data(),
                         Py_ssize_t(text.size()), node->grad);
}

PyObject* value_setstate(PyObject* self, PyObject* grad) {
    double x;
    if (real_or_type_error(grad, &x, "Value state (the grad)") < 0) return nullptr;
    node_of(self)->grad = x;
    Py_RETURN_NONE;
}

// Value's methods: the fixed ones, then one per op of the table that Python
// spells as a method (tanh, relu, ...), made at start-up (method_table()).
const PyMethodDef fixed_methods[] = {
    {"backward", backward_method, METH_NOARGS,
     PyDoc_STR("backward($self, /)\n--\n\n"
               "Computes d(self)/d(node) for every node of self's graph into node.grad.\n\n"
               "Leaf gradients accumulate across calls, exactly: each call sums its own contributions and adds\n"
               "them once, so a second call gives exactly twice (zero them with zero_grad() or p.grad = 0).\n"
               "Interior gradients are recomputed on each call. Iterative: any depth works.")},
    {"zero_grad", zero_grad_method, METH_NOARGS,
     PyDoc_STR("zero_grad($self, /)\n--\n\nSets grad = 0 on every node reachable from self.")},
    {"add", binary_method<Op::add>, METH_O,
     PyDoc_STR("add($self, other, /)\n--\n\nself + other, as a new Value. other: a Value or a real number.")},
    {"mul", binary_method<Op::mul>, METH_O,
     PyDoc_STR("mul($self, other, /)\n--\n\nself * other, as a new Value. other: a Value or a real number.")},
    {"_repr_svg_", repr_svg_method, METH_NOARGS,
     PyDoc_STR("_repr_svg_($self, /)\n--\n\nThe graph as SVG for Jupyter (micrograd_cpp.viz), or None when Graphviz "
               "is missing\nor the graph is too large to draw.")},
    {"__reduce__", value_reduce, METH_NOARGS,
     PyDoc_STR("__reduce__($self, /)\n--\n\nPickles a Value as a leaf: data, label and grad.")},
    {"__setstate__", value_setstate, METH_O,
     PyDoc_STR("__setstate__($self, grad, /)\n--\n\nRestores the grad of an unpickled Value.")},
};

template <Op op, Arity arity>
constexpr PyCFunction op_method() {
    if constexpr (arity == Arity::unary) return unary_method<op>;
    if constexpr (arity == Arity::binary) return binary_method<op>;
    return nullptr;
}

PyMethodDef* method_table() {
    static std::vector<PyMethodDef>* methods = [] {
        auto* docs = new std::vector<std::string>();  // never freed: the type refers to them
        docs->reserve(ops::table_size);
        auto* out = new std::vector<PyMethodDef>(std::begin(fixed_methods), std::end(fixed_methods));
        const PyCFunction functions[] = {
#define MICROGRAD_METHOD(id, Struct, arity, ...) op_method<Op::id, Arity::arity>(),
            MICROGRAD_OPS(MICROGRAD_METHOD)
#undef MICROGRAD_METHOD
        };
        for (std::size_t i = 0; i < ops::table_size; ++i) {
            const ops::Info& op = ops::table[i];
            if (!*op.method || !functions[i]) continue;
            const bool binary = op.arity == Arity::binary;
            docs->push_back(std::string(op.method) + (binary ? "($self, other, /)" : "($self, /)") + "\n--\n\n" +
                            op.doc);
            out->push_back({op.method, functions[i], binary ? METH_O : METH_NOARGS, docs->back().c_str()});
        }
        out->push_back({nullptr, nullptr, 0, nullptr});
        return out;
    }();
    return methods->data();
}

PyType_Slot value_slots[] = {
    {Py_tp_doc, const_cast<char*>("Value(data, label='')\n--\n\n"
                                  "A scalar in a differentiable expression graph.\n\n"
                                  "data: a real number (int, float, or any object with __float__, such as NumPy "
                                  "scalars).\nlabel: an optional name, shown in repr and graph drawings.\n\n"
                                  "Operators: + - * / ** and unary -, with a Value or a real number on either side;\n"
                                  "abs(v).\n\n"
                                  "Comparisons: `a == b` and `a != b` compare nodes, not values: true when both are\n"
                                  "the same node, also through two Python objects for it (`c._children[0] == a`);\n"
                                  "`Value(1.0) == Value(1.0)` and `a == 1.0` are False (compare `.data`). `hash()`\n"
                                  "follows, so Values work in sets and as dict keys (`a in c._prev`). `<`, `<=`, `>`,\n"
                                  "`>=` raise TypeError, as in micrograd (compare `.data`).")},
    {Py_tp_new, reinterpret_cast<void*>(value_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(value_dealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(value_repr)},
    {Py_tp_hash, reinterpret_cast<void*>(value_hash)},
    {Py_tp_richcompare, reinterpret_cast<void*>(value_richcompare)},
    {Py_tp_getset, value_getset},
    {Py_tp_methods, nullptr},  // method_table(), set in create_value_type
    {Py_nb_add, reinterpret_cast<void*>(binary_slot<Op::add>)},
    {Py_nb_subtract, reinterpret_cast<void*>(binary_slot<Op::sub>)},
    {Py_nb_multiply, reinterpret_cast<void*>(binary_slot<Op::mul>)},
    {Py_nb_true_divide, reinterpret_cast<void*>(binary_slot<Op::div>)},
    {Py_nb_power, reinterpret_cast<void*>(power_slot)},
    {Py_nb_negative, reinterpret_cast<void*>(unary_slot<Op::neg>)},
    {Py_nb_absolute, reinterpret_cast<void*>(unary_slot<Op::abs>)},
    {0, nullptr},
};

// --- dot and sum: n-ary nodes built from any iterable -------------------------

// The items of a Python iterable, one at a time, each a new reference (held
// while it is converted). Lists and tuples are read by index as Python's own
// iterators read them (a list's length checked again at each item), anything
// else through its iterator.
class Items {
public:
    Items() = default;
    Items(const Items&) = delete;
    Items& operator=(const Items&) = delete;
    ~Items() { Py_XDECREF(iterator_); }

    bool open(PyObject* iterable, const char* what) {
        if (PyList_CheckExact(iterable) || PyTuple_CheckExact(iterable)) {
            sequence_ = iterable;
            return true;
        }
        iterator_ = PyObject_GetIter(iterable);
        if (!iterator_ && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError, "%s must be an iterable of Values or numbers, not %.200s", what,
                         Py_TYPE(iterable)->tp_name);
        }
        return iterator_ != nullptr;
    }
    // The number of items still to come if known (a list or tuple), else -1.
    Py_ssize_t size() const { return sequence_ ? Py_SIZE(sequence_) - index_ : -1; }
    // 1 and a new reference in *item; 0 at the end; -1 with an exception set.
    int next(PyObject** item) {
        if (sequence_) {
            if (index_ >= Py_SIZE(sequence_)) return 0;
            *item =
                PyList_CheckExact(sequence_) ? PyList_GET_ITEM(sequence_, index_) : PyTuple_GET_ITEM(sequence_, index_);
            ++index_;
            Py_INCREF(*item);
            return 1;
        }
        *item = PyIter_Next(iterator_);
        if (*item) return 1;
        return PyErr_Occurred() ? -1 : 0;
    }

private:
    PyObject* sequence_ = nullptr;  // borrowed: the caller's argument, alive for the call
    PyObject* iterator_ = nullptr;
    Py_ssize_t index_ = 0;
};

// Nodes read from a Python iterable, each holding a reference of ours for as
// long as this object lives: Values give their own node, numbers a new
// constant leaf. Python code that runs while reading (an item's __float__, a
// generator) may mutate the source freely: what was read is held here.
class OwnedNodes {
public:
    OwnedNodes() = default;
    OwnedNodes(const OwnedNodes&) = delete;
    OwnedNodes& operator=(const OwnedNodes&) = delete;
    ~OwnedNodes() {
        for (Node* node : nodes_)
            release(node);
    }

    // Appends every item of iterable; on failure returns false with a Python
    // exception set (a TypeError naming `what` for an item that is no number).
    bool read(PyObject* iterable, const char* what) {
        Items items;
        if (!items.open(iterable, what)) return false;
        if (items.size() >= 0 && !grow_to(std::size_t(items.size()))) return false;
        for (Py_ssize_t index = 0;; ++index) {
            PyObject* item;
            const int got = items.next(&item);
            if (got <= 0) return got == 0;
            const bool ok = append(item, what, index);
            Py_DECREF(item);
            if (!ok) return false;
        }
    }

    Node* const* data() const { return nodes_.data(); }
    std::size_t size() const { return nodes_.size(); }

    // A constant leaf.
    bool append(double x) {
        if (!room_for_one()) return false;
        try {
            nodes_.push_back(make_leaf(x));  // cannot reallocate: room was made
        } catch (const std::bad_alloc&) {
            PyErr_NoMemory();
            return false;
        }
        return true;
    }

    // A Value's node, or a constant leaf for a real number.
    bool append(PyObject* item, const char* what, Py_ssize_t index) {
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
        const int found = to_real(item, &x);
        if (found < 0) return false;
        if (found == 0) {
            PyErr_Format(PyExc_TypeError, "%s must hold Values or real numbers, not %.200s (at index %zd)", what,
                         Py_TYPE(item)->tp_name, index);
            return false;
        }
        return append(x);
    }

private:
    // Capacity for n more nodes (false with MemoryError set when there is none).
    bool grow_to(std::size_t n) {
        try {
            nodes_.reserve(nodes_.size() + n);
        } catch (const std::exception&) {
            PyErr_NoMemory();
            return false;
        }
        return true;
    }
    bool room_for_one() {
        if (nodes_.size() < nodes_.capacity()) return true;
        return grow_to(nodes_.size() < 8 ? 8 : nodes_.size());  // doubling: linear in all
    }

    std::vector<Node*> nodes_;
};

// Reads up to two arguments, positional or by keyword, into out[0..1]; names[i] null-terminated.
bool parse_arguments(const char* function, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                     const char* const names[2], Py_ssize_t required, PyObject* out[2]) {
    out[0] = out[1] = nullptr;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 2 arguments (%zd given)", function, nargs);
        return false;
    }
    for (Py_ssize_t i = 0; i < nargs; ++i)
        out[i] = args[i];
    const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; ++i) {
        PyObject* name = PyTuple_GET_ITEM(kwnames, i);
        int which = -1;
        for (int k = 0; k < 2; ++k)
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

PyObject* dot_function(PyObject* /*module*/, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[2] = {"a", "b"};
    PyObject* arg[2];
    if (!parse_arguments("dot", args, nargs, kwnames, names, 2, arg)) return nullptr;
    // a and b in step, as zip() reads them: an endless one is caught one item past the other's end.
    Items items[2];
    OwnedNodes nodes[2];
    const char* what[2] = {"dot(a, b): a", "dot(a, b): b"};
    for (int k = 0; k < 2; ++k)
        if (!items[k].open(arg[k], what[k])) return nullptr;
    for (Py_ssize_t index = 0;; ++index) {
        PyObject* item[2] = {nullptr, nullptr};
        int got[2];
        for (int k = 0; k < 2; ++k) {
            got[k] = items[k].next(&item[k]);
            if (got[k] < 0) {
                Py_XDECREF(item[0]);
                return nullptr;
            }
        }
        if (got[0] != got[1]) {  // one ended first
            Py_XDECREF(item[0]);
            Py_XDECREF(item[1]);
            // index items of the one that ended; the other's count if it is a list or tuple.
            const Py_ssize_t rest = items[got[0] ? 0 : 1].size();
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
            ok = ok && nodes[k].append(item[k], what[k], index);
            Py_DECREF(item[k]);
        }
        if (!ok) return nullptr;
    }
    OwnedNodes& a = nodes[0];
    OwnedNodes& b = nodes[1];
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
    if (!parse_arguments("sum", args, nargs, kwnames, names, 1, arg)) return nullptr;
    OwnedNodes values;
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
    const bool explicit_start = start && (is_value(start) || start_number != 0.0 || std::signbit(start_number));
    if (explicit_start && !(is_value(start) ? values.append(start, "sum(): start", 0) : values.append(start_number)))
        return nullptr;
    if (!values.read(arg[0], "sum(values)")) return nullptr;
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
               "read in step, of equal length (ValueError otherwise). Empty: Value(0.0).")},
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

PyObject* wrap(Node* node) {
    auto* self = static_cast<PyValue*>(free_wrappers.size > 0 ? free_wrappers.items[--free_wrappers.size]
                                                              : PyObject_Malloc(sizeof(PyValue)));
    if (!self) {
        release(node);
        return PyErr_NoMemory();
    }
    PyObject_Init(reinterpret_cast<PyObject*>(self), value_type);
    self->node = node;
    return reinterpret_cast<PyObject*>(self);
}

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

int to_real(PyObject* obj, double* out) {
    if (PyFloat_Check(obj)) {  // float and its subclasses, numpy.float64 among them
        *out = PyFloat_AS_DOUBLE(obj);
        return 1;
    }
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

int add_module_functions(PyObject* module) { return PyModule_AddFunctions(module, module_functions); }

PyObject* create_value_type() {
    if (value_type) {  // the module imported again (e.g. after a del sys.modules): one type for all Values
        Py_INCREF(value_type);
        return reinterpret_cast<PyObject*>(value_type);
    }
    for (PyType_Slot* slot = value_slots; slot->slot; ++slot)
        if (slot->slot == Py_tp_methods) slot->pfunc = method_table();
    static PyType_Spec spec = {
        "micrograd_cpp._core.Value",
        sizeof(PyValue),
        0,
        // No Py_TPFLAGS_HAVE_GC: Values hold no Python references. Immutable (3.10+): no code can
        // replace a method of Value for everyone in the process.
        Py_TPFLAGS_DEFAULT
#ifdef Py_TPFLAGS_IMMUTABLETYPE
            | Py_TPFLAGS_IMMUTABLETYPE
#endif
        ,
        value_slots,
    };
    PyObject* type = PyType_FromSpec(&spec);
    if (!type) return nullptr;
    value_type = reinterpret_cast<PyTypeObject*>(type);
    value_type->tp_vectorcall = value_vectorcall;
#if PY_VERSION_HEX < 0x030A0000
    // Python 3.9's PyType_FromSpec keeps the docstring without its signature line, so
    // inspect.signature(Value) and help() lose "Value(data, label='')": put it back (the type frees
    // tp_doc with PyObject_Free, so a copy made with PyObject_Malloc).
    for (PyType_Slot* slot = value_slots; slot->slot; ++slot) {
        if (slot->slot != Py_tp_doc) continue;
        const char* full = static_cast<const char*>(slot->pfunc);
        const std::size_t size = std::strlen(full) + 1;
        auto* copy = static_cast<char*>(PyObject_Malloc(size));
        if (!copy) {
            Py_DECREF(type);
            value_type = nullptr;
            return PyErr_NoMemory();
        }
        std::memcpy(copy, full, size);
        PyObject_Free(const_cast<char*>(value_type->tp_doc));
        value_type->tp_doc = copy;
    }
#endif
    return type;
}

}  // namespace micrograd::python
