#define PY_SSIZE_T_CLEAN
#include "value_type.hpp"

#include <cstdint>
#include <new>
#include <stdexcept>

#include "micrograd/graph.hpp"
#include "micrograd/label.hpp"

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

PyObject* negative_slot(PyObject* x) {
    return guarded([&] { return wrap(make_unary(Op::neg, node_of(x))); });
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

// --- construction, lifetime, identity ----------------------------------------

int label_from(PyObject* obj, Node* node) {
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "label must be a str, not %.200s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t size;
    const char* text = PyUnicode_AsUTF8AndSize(obj, &size);
    if (!text) return -1;
    set_label(node, std::string(text, static_cast<size_t>(size)));
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
    return real_or_type_error(obj, target, what);
}

int set_data(PyObject* self, PyObject* obj, void*) { return set_number(obj, &node_of(self)->data, "Value.data"); }
int set_grad(PyObject* self, PyObject* obj, void*) { return set_number(obj, &node_of(self)->grad, "Value.grad"); }

PyGetSetDef value_getset[] = {
    {"data", get_data, set_data, PyDoc_STR("The scalar this node holds (a float)."), nullptr},
    {"grad", get_grad, set_grad, PyDoc_STR("d(root)/d(self) after root.backward() (a float)."), nullptr},
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
    if (real_or_type_error(grad, &node_of(self)->grad, "Value state (the grad)") < 0) return nullptr;
    Py_RETURN_NONE;
}

PyMethodDef value_methods[] = {
    {"add", binary_method<Op::add>, METH_O,
     PyDoc_STR("add($self, other, /)\n--\n\nself + other, as a new Value. other: a Value or a real number.")},
    {"mul", binary_method<Op::mul>, METH_O,
     PyDoc_STR("mul($self, other, /)\n--\n\nself * other, as a new Value. other: a Value or a real number.")},
    {"tanh", unary_method<Op::tanh>, METH_NOARGS,
     PyDoc_STR("tanh($self, /)\n--\n\ntanh(self), as a new Value (op 'tanh'). Saturates to +-1, never overflows.\n"
               "Local derivative: 1 - tanh(x)**2.")},
    {"relu", unary_method<Op::relu>, METH_NOARGS,
     PyDoc_STR("relu($self, /)\n--\n\nmax(self, 0), as a new Value (op 'ReLU'). Local derivative: 1 where the "
               "output is > 0, else 0.")},
    {"sigmoid", unary_method<Op::sigmoid>, METH_NOARGS,
     PyDoc_STR("sigmoid($self, /)\n--\n\n1 / (1 + exp(-self)), as a new Value (op 'sigmoid'), computed without "
               "overflow for any input.\nLocal derivative: s * (1 - s).")},
    {"exp", unary_method<Op::exp>, METH_NOARGS,
     PyDoc_STR("exp($self, /)\n--\n\nexp(self), as a new Value (op 'exp'); overflows to inf above ~709.8.\n"
               "Local derivative: exp(x).")},
    {"log", unary_method<Op::log>, METH_NOARGS,
     PyDoc_STR("log($self, /)\n--\n\nThe natural logarithm, as a new Value (op 'log'): log(0) = -inf, "
               "log(x < 0) = nan.\nLocal derivative: 1 / x.")},
    {"softplus", unary_method<Op::softplus>, METH_NOARGS,
     PyDoc_STR("softplus($self, /)\n--\n\nlog(1 + exp(self)), as a new Value (op 'softplus'), computed without "
               "overflow or cancellation.\nLocal derivative: sigmoid(x).")},
    {"__reduce__", value_reduce, METH_NOARGS,
     PyDoc_STR("__reduce__($self, /)\n--\n\nPickles a Value as a leaf: data, label and grad.")},
    {"__setstate__", value_setstate, METH_O,
     PyDoc_STR("__setstate__($self, grad, /)\n--\n\nRestores the grad of an unpickled Value.")},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot value_slots[] = {
    {Py_tp_doc, const_cast<char*>("Value(data, label='')\n--\n\n"
                                  "A scalar in a differentiable expression graph.\n\n"
                                  "data: a real number (int, float, or any object with __float__, such as NumPy "
                                  "scalars).\nlabel: an optional name, shown in repr and graph drawings.")},
    {Py_tp_new, reinterpret_cast<void*>(value_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(value_dealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(value_repr)},
    {Py_tp_hash, reinterpret_cast<void*>(value_hash)},
    {Py_tp_richcompare, reinterpret_cast<void*>(value_richcompare)},
    {Py_tp_getset, value_getset},
    {Py_tp_methods, value_methods},
    {Py_nb_add, reinterpret_cast<void*>(binary_slot<Op::add>)},
    {Py_nb_subtract, reinterpret_cast<void*>(binary_slot<Op::sub>)},
    {Py_nb_multiply, reinterpret_cast<void*>(binary_slot<Op::mul>)},
    {Py_nb_true_divide, reinterpret_cast<void*>(binary_slot<Op::div>)},
    {Py_nb_power, reinterpret_cast<void*>(power_slot)},
    {Py_nb_negative, reinterpret_cast<void*>(negative_slot)},
    {0, nullptr},
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

int to_real(PyObject* obj, double* out) {
    if (PyFloat_Check(obj)) {  // float and its subclasses, numpy.float64 among them
        *out = PyFloat_AS_DOUBLE(obj);
        return 1;
    }
    if (PyLong_Check(obj)) {
        *out = PyLong_AsDouble(obj);  // OverflowError past ~1.8e308
        return (*out == -1.0 && PyErr_Occurred()) ? -1 : 1;
    }
    if (is_value(obj)) return 0;
    PyNumberMethods* number = Py_TYPE(obj)->tp_as_number;
    if (!number || (!number->nb_float && !number->nb_index)) return 0;
    // Arrays have __float__ too but are not scalars: leave them to their own
    // operators (numpy broadcasts `array * value` over the elements).
    PySequenceMethods* sequence = Py_TYPE(obj)->tp_as_sequence;
    PyMappingMethods* mapping = Py_TYPE(obj)->tp_as_mapping;
    if ((sequence && sequence->sq_length) || (mapping && mapping->mp_length)) return 0;
    *out = PyFloat_AsDouble(obj);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 1;
}

PyObject* create_value_type() {
    static PyType_Spec spec = {
        "micrograd_cpp._core.Value",
        sizeof(PyValue),
        0,
        Py_TPFLAGS_DEFAULT,  // no Py_TPFLAGS_HAVE_GC: Values hold no Python references
        value_slots,
    };
    PyObject* type = PyType_FromSpec(&spec);
    if (!type) return nullptr;
    value_type = reinterpret_cast<PyTypeObject*>(type);
    value_type->tp_vectorcall = value_vectorcall;
    return type;
}

}  // namespace micrograd::python
