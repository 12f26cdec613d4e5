#define PY_SSIZE_T_CLEAN
#include "value_type.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "custom_value.hpp"
#include "guarded.hpp"
#include "micrograd/graph.hpp"
#include "micrograd/label.hpp"
#include "micrograd/ops.hpp"
#include "real_number.hpp"
#include "signals.hpp"

namespace micrograd::python {

PyTypeObject* value_type = nullptr;
PyTypeObject* custom_value_type = nullptr;

namespace {

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
        if (!run_interruptible([&] { backward(node_of(self)); })) return nullptr;  // Ctrl-C: signals.hpp
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
    if (node->test(Node::has_name)) {  // the name a custom op's node was made with
        const std::string& given = op_name(node);
        return PyUnicode_DecodeUTF8(given.data(), Py_ssize_t(given.size()), "strict");
    }
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

// --- construction: Value(data, _children=(), _op='', label='') ------------------------------------

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

// Value()'s arguments as given (borrowed), null for one not given: parsed first, by value_new (for
// Value.__new__, with a tuple and a dict) or value_vectorcall (for Value(...)), then made into a
// Value by make_value. Two constructors in one, told apart by the third argument:
//   micrograd's  Value(data, _children=(), _op='', label='')   a str: an op's name
//   microgpt's   Value(data, children=(), local_grads=())       numbers: the local derivatives
// `children` is `_children`'s other name; a second positional str is a label (the form this
// constructor had before it took micrograd's, Value(data, label)).
struct ValueArguments {
    PyObject* data = nullptr;
    PyObject* children = nullptr;
    PyObject* op = nullptr;
    PyObject* local_grads = nullptr;
    PyObject* label = nullptr;
};
// In their positional order, then the keyword-only other names (null-terminated for PyArg_Parse*).
const char* value_argument_names[] = {"data", "_children", "_op", "label", "children", "local_grads", nullptr};
constexpr Py_ssize_t value_positional = 4;

// The parsed arguments (given[k] for value_argument_names[k]; nargs of them positional) as a ValueArguments.
bool sort_arguments(PyObject* const* given, Py_ssize_t nargs, ValueArguments& out) {
    out.data = given[0];
    out.children = given[1];
    out.label = given[3];
    if (given[4]) {
        if (out.children) {
            PyErr_SetString(PyExc_TypeError, "Value() got both _children and children (two names for one argument)");
            return false;
        }
        out.children = given[4];
    }
    if (out.children && !out.label && nargs == 2 && PyUnicode_Check(out.children)) {  // Value(data, label)
        out.label = out.children;
        out.children = nullptr;
    }
    out.local_grads = given[5];
    PyObject* third = given[2];
    if (third) {
        const bool positional = nargs >= 3;
        if (PyUnicode_Check(third)) {
            out.op = third;
        } else if (!positional) {
            PyErr_Format(PyExc_TypeError, "Value() _op must be a str (the op's name), not %.200s",
                         Py_TYPE(third)->tp_name);
            return false;
        } else if (out.local_grads) {
            PyErr_SetString(PyExc_TypeError, "Value() got multiple values for argument 'local_grads'");
            return false;
        } else {
            out.local_grads = third;  // not a str: microgpt's local gradients
        }
    }
    return true;
}

// A new Value: a leaf, or a node of a custom op (custom_value.hpp) when it has children.
PyObject* make_value(const ValueArguments& given) {
    double data;
    if (real_or_type_error(given.data, &data, "Value() data") < 0) return nullptr;
    if (given.label && !PyUnicode_Check(given.label))
        return PyErr_Format(PyExc_TypeError, "label must be a str, not %.200s", Py_TYPE(given.label)->tp_name);
    PyObject* self = nullptr;
    if (given.children || given.local_grads) {
        self = make_custom_value(data, given.children, given.op, given.local_grads);
    } else {
        self = guarded([&] { return wrap(make_leaf(data)); });
        if (self && given.op && PyUnicode_GET_LENGTH(given.op) > 0 && set_op_name_from(given.op, node_of(self)) < 0)
            Py_CLEAR(self);
    }
    if (self && given.label && label_from(given.label, node_of(self)) < 0) Py_CLEAR(self);
    return self;
}

PyObject* value_new(PyTypeObject* /*type*/, PyObject* args, PyObject* kwargs) {
    PyObject* given[6] = {};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOOO:Value", const_cast<char**>(value_argument_names), &given[0],
                                     &given[1], &given[2], &given[3], &given[4], &given[5]))
        return nullptr;
    const Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (nargs > value_positional)
        return PyErr_Format(PyExc_TypeError, "Value() takes at most %zd positional arguments (%zd given)",
                            value_positional, nargs);
    ValueArguments sorted;
    if (!sort_arguments(given, nargs, sorted)) return nullptr;
    return make_value(sorted);
}

// Value(x) is called once per input in micrograd-style code: the vectorcall
// protocol skips building an argument tuple (48 -> 20 ns).
PyObject* value_vectorcall(PyObject* /*type*/, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
    const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 1 && !kwnames) {  // Value(x): nothing to parse
        ValueArguments given;
        given.data = args[0];
        return make_value(given);
    }
    if (nargs > value_positional)
        return PyErr_Format(PyExc_TypeError, "Value() takes at most %zd positional arguments (%zd given)",
                            value_positional, nargs);
    PyObject* given[6];
    if (!parse_arguments("Value", args, nargs, kwnames, value_argument_names, 6, 1, given)) return nullptr;
    ValueArguments sorted;
    if (!sort_arguments(given, nargs, sorted)) return nullptr;
    return make_value(sorted);
}

// --- lifetime, identity, printing ---------------------------------------------

// Freed wrappers kept for reuse, as CPython does for floats: every op makes one
// and most die at once. Guarded by the GIL.
struct WrapperFreeList {
    static constexpr int capacity = 256;
    PyObject* items[capacity];
    int size = 0;
} free_wrappers;

void value_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    Node* node = node_of(self);
    node->handle = nullptr;  // no longer its Python object
    release(node);           // frees the graph below it too, iteratively, when this was its last owner
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

// == and != compare nodes. An order (<, <=, >, >=) is refused with a pointer to .data: a silent
// answer would be a plain bool, outside the graph, and micrograd refuses them too.
PyObject* value_richcompare(PyObject* x, PyObject* y, int op) {
    if (op == Py_EQ || op == Py_NE) {
        if (!is_value(x) || !is_value(y)) return not_implemented();
        const bool same = node_of(x) == node_of(y);
        return PyBool_FromLong((op == Py_EQ) == same);
    }
    static const char* const symbols[] = {"<", "<=", "==", "!=", ">", ">="};
    const char* symbol = symbols[op];
    return PyErr_Format(PyExc_TypeError,
                        "'%s' between Values is not defined: compare the numbers they hold, as in a.data %s b.data "
                        "(a comparison has no gradient, so it cannot be part of the graph)",
                        symbol, symbol);
}

// float(v), int(v), round(v) and v.item() would give a plain number that has left the graph: each is
// a TypeError saying to read .data, the number, on purpose.
PyObject* refuse_conversion(const char* spelling) {
    return PyErr_Format(PyExc_TypeError,
                        "%s: a Value is a node of a graph, not a number; use v.data, the number it holds "
                        "(a number taken from it has no gradient)",
                        spelling);
}
PyObject* value_float(PyObject* /*self*/) { return refuse_conversion("float() of a Value"); }
PyObject* value_int(PyObject* /*self*/) { return refuse_conversion("int() of a Value"); }
PyObject* value_round(PyObject* /*self*/, PyObject* const* /*args*/, Py_ssize_t /*nargs*/) {
    return refuse_conversion("round() of a Value");
}
PyObject* value_item(PyObject* /*self*/, PyObject* /*unused*/) {
    return refuse_conversion("Value.item() (a Value is one scalar, not a tensor)");
}

// format(v, spec) and f"{v:.2f}" format v.data; an empty spec is str(v), as for any object.
PyObject* value_format(PyObject* self, PyObject* spec) {
    if (!PyUnicode_Check(spec))
        return PyErr_Format(PyExc_TypeError, "format spec must be a str, not %.200s", Py_TYPE(spec)->tp_name);
    if (PyUnicode_GET_LENGTH(spec) == 0) return PyObject_Str(self);
    PyObject* data = PyFloat_FromDouble(node_of(self)->data);
    if (!data) return nullptr;
    PyObject* out = PyObject_Format(data, spec);
    Py_DECREF(data);
    return out;
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
    {"_backward", get_backward, set_backward,
     PyDoc_STR("This node's chain-rule step, a callable: _backward() adds each local derivative times self.grad to\n"
               "its operand's grad, once (micrograd's; nothing for a leaf). On a custom node (Value(data, children,\n"
               "'op')) it is the function assigned to it, which backward() calls in topological order."),
     nullptr},
    {"_local_grads", get_local_grads, nullptr,
     PyDoc_STR("The local derivatives at the current data, one per operand in _children order, a tuple of floats\n"
               "(microgpt's); () for a leaf, None for a custom node whose backward is Python code."),
     nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

// Pickling and copying keep a Value as a leaf: its data, label and grad, not
// the graph that made it.
PyObject* value_reduce(PyObject* self, PyObject* /*unused*/) {
    const Node* node = node_of(self);
    const std::string& text = label(node);
    return Py_BuildValue("(O(ds#)d)", reinterpret_cast<PyObject*>(value_type), node->data, text.data(),
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
    {"__format__", value_format, METH_O,
     PyDoc_STR("__format__($self, format_spec, /)\n--\n\nformat(v, spec) formats v.data (f\"{v:.2f}\"); an empty "
               "spec gives str(v).")},
    {"__round__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(value_round)), METH_FASTCALL,
     PyDoc_STR("__round__($self, ndigits=None, /)\n--\n\nA TypeError: round(v.data) rounds the number.")},
    {"item", value_item, METH_NOARGS,
     PyDoc_STR("item($self, /)\n--\n\nA TypeError: a Value is not a tensor; v.data is its number.")},
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
    {Py_tp_doc, const_cast<char*>("Value(data, _children=(), _op='', label='', *, children=(), local_grads=())\n--\n\n"
                                  "A scalar in a differentiable expression graph.\n\n"
                                  "data: a real number (int, float, or any object with __float__, such as NumPy "
                                  "scalars).\nlabel: an optional name, shown in repr and graph drawings.\n"
                                  "Value(data, label) and Value(data, label='a') make a leaf.\n\n"
                                  "Custom ops, two constructors told apart by the third argument:\n"
                                  "micrograd's Value(data, _children, _op) (a str) makes a node of the op named _op\n"
                                  "whose backward is the function assigned to out._backward;\n"
                                  "microgpt's Value(data, children, local_grads) (numbers, one per child) makes a\n"
                                  "node whose backward adds local_grads[i] * out.grad to children[i].grad, in C++.\n\n"
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
    {Py_nb_float, reinterpret_cast<void*>(value_float)},
    {Py_nb_int, reinterpret_cast<void*>(value_int)},
    {0, nullptr},
};

}  // namespace

PyObject* wrap(Node* node) {
    if (auto* existing = static_cast<PyObject*>(node->handle)) {  // one Python object per node
        Py_INCREF(existing);
        release(node);  // never its last reference: the existing Value holds one
        return existing;
    }
    if (node->op == Op::custom) return wrap_custom(node);  // a GC-tracked Value (custom_value.hpp)
    auto* self = static_cast<PyValue*>(free_wrappers.size > 0 ? free_wrappers.items[--free_wrappers.size]
                                                              : PyObject_Malloc(sizeof(PyValue)));
    if (!self) {
        release(node);
        return PyErr_NoMemory();
    }
    PyObject_Init(reinterpret_cast<PyObject*>(self), value_type);
    self->node = node;
    node->handle = self;
    return reinterpret_cast<PyObject*>(self);
}

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
    if (create_custom_value_type() < 0) {
        Py_DECREF(type);
        value_type = nullptr;
        return nullptr;
    }
#if PY_VERSION_HEX < 0x030A0000
    // Python 3.9's PyType_FromSpec keeps the docstring without its signature line, so
    // inspect.signature(Value) and help() lose the constructor's signature: put it back (the type frees
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
