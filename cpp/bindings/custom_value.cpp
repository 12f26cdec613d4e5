#define PY_SSIZE_T_CLEAN
#include "custom_value.hpp"

#include <string>
#include <vector>

#include "guarded.hpp"
#include "micrograd/graph.hpp"
#include "micrograd/label.hpp"
#include "micrograd/ops.hpp"
#include "real_number.hpp"
#include "value_type.hpp"

namespace micrograd::python {
namespace {

PyObject* backward_of(const Node* node) { return static_cast<PyObject*>(node->payload()); }

// --- the subtype: a GC-tracked Value ------------------------------------------------------

// The node's backward belongs to this Value while the Value is the node's only owner (nothing
// else, no graph above it, holds the node): then the collector may count the Value's reference
// to it and, if the two are a cycle nobody reaches, clear it.
bool owns_backward(PyObject* self) {
    const Node* node = node_of(self);
    return node && node->refs == 1 && backward_of(node);
}

int custom_traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    if (owns_backward(self)) Py_VISIT(backward_of(node_of(self)));
    return 0;
}

int custom_clear(PyObject* self) {
    if (owns_backward(self)) {
        PyObject* fn = backward_of(node_of(self));
        node_of(self)->payload() = nullptr;
        Py_DECREF(fn);
    }
    return 0;
}

void custom_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Node* node = node_of(self);
    node->handle = nullptr;  // no longer its Python object
    release(node);           // a node it alone held: its backward goes with it (release_backward)
    PyObject_GC_Del(self);
    Py_DECREF(type);
}

// The core frees a custom node: its backward goes (it may hold the last reference to Values, and
// so free other nodes: release() may be entered again, which it allows).
void release_backward(void* fn) noexcept { Py_DECREF(static_cast<PyObject*>(fn)); }

// The core's backward() at a custom node: its _backward(), called with no arguments (micrograd's).
void run_backward(const Node& node) {
    PyObject* fn = backward_of(&node);
    if (!fn) return;  // none assigned: as micrograd's `lambda: None`
    Py_INCREF(fn);    // it may replace itself while it runs
    PyObject* result = PyObject_CallNoArgs(fn);
    Py_DECREF(fn);
    if (!result) throw python_error_set();
    Py_DECREF(result);
}

PyType_Slot custom_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(custom_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(custom_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(custom_clear)},
    {Py_tp_doc, const_cast<char*>("A Value of a custom op's node (its backward is Python code): a Value in all.")},
    {0, nullptr},
};

// --- construction ------------------------------------------------------------------------

// The children as nodes; refused unless each is a Value.
bool read_children(PyObject* sequence, std::vector<Node*>& out) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(sequence);
    PyObject** items = PySequence_Fast_ITEMS(sequence);
    for (Py_ssize_t i = 0; i < n; ++i) {
        if (!is_value(items[i])) {
            PyErr_Format(PyExc_TypeError,
                         "Value() children must be Values; item %zd is %.200s (wrap a number in Value() first)", i,
                         Py_TYPE(items[i])->tp_name);
            return false;
        }
        out.push_back(node_of(items[i]));
    }
    return true;
}

bool read_local_grads(PyObject* sequence, std::vector<double>& out) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(sequence);
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* item = PySequence_Fast_GET_ITEM(sequence, i);
        double x;
        if (is_value(item)) {
            PyErr_Format(PyExc_TypeError,
                         "Value() local_grads must be numbers; item %zd is a Value (its number is .data: local "
                         "gradients are constants)",
                         i);
            return false;
        }
        if (real_or_type_error(item, &x, "Value() local_grads item") < 0) return false;
        out.push_back(x);
    }
    return true;
}

// A sequence we hold for the call (a list of its items when it was another iterable).
PyObject* as_sequence(PyObject* obj, const char* what) {
    if (PyUnicode_Check(obj) || PyBytes_Check(obj))
        return PyErr_Format(PyExc_TypeError, "Value() %s must be a sequence, not %.200s", what, Py_TYPE(obj)->tp_name);
    PyObject* out = PySequence_Fast(obj, "");
    if (!out && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        return PyErr_Format(PyExc_TypeError, "Value() %s must be a sequence, not %.200s", what, Py_TYPE(obj)->tp_name);
    }
    return out;
}

}  // namespace

int create_custom_value_type() {
    if (custom_value_type) return 0;
    static PyType_Spec spec = {
        "micrograd_cpp._core.Value",
        sizeof(PyValue),
        0,
        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
#ifdef Py_TPFLAGS_IMMUTABLETYPE
            | Py_TPFLAGS_IMMUTABLETYPE
#endif
        ,
        custom_slots,
    };
    // Value is not a base type for users (a subclass could not hold a node); this one subtype is
    // made while the flag is on.
    value_type->tp_flags |= Py_TPFLAGS_BASETYPE;
    PyObject* type = PyType_FromSpecWithBases(&spec, reinterpret_cast<PyObject*>(value_type));
    value_type->tp_flags &= ~Py_TPFLAGS_BASETYPE;
    if (!type) return -1;
    custom_value_type = reinterpret_cast<PyTypeObject*>(type);  // kept for the process
    set_custom_backward(run_backward);
    set_custom_release(release_backward);
    return 0;
}

PyObject* wrap_custom(Node* node) {
    auto* self = PyObject_GC_New(PyValue, custom_value_type);
    if (!self) {
        release(node);
        return nullptr;
    }
    self->node = node;
    node->handle = self;
    PyObject_GC_Track(reinterpret_cast<PyObject*>(self));
    return reinterpret_cast<PyObject*>(self);
}

int set_op_name_from(PyObject* op, Node* node) {
    if (!PyUnicode_Check(op)) {
        PyErr_Format(PyExc_TypeError, "Value() _op must be a str (the op's name), not %.200s", Py_TYPE(op)->tp_name);
        return -1;
    }
    Py_ssize_t size;
    const char* text = PyUnicode_AsUTF8AndSize(op, &size);
    if (!text) return -1;
    PyObject* ok = guarded([&]() -> PyObject* {
        set_op_name(node, std::string(text, static_cast<std::size_t>(size)));
        Py_RETURN_NONE;
    });
    if (!ok) return -1;
    Py_DECREF(ok);
    return 0;
}

PyObject* make_custom_value(double data, PyObject* children, PyObject* op, PyObject* local_grads) {
    PyObject* kids = children ? as_sequence(children, "children") : PyTuple_New(0);
    if (!kids) return nullptr;
    PyObject* locals = local_grads ? as_sequence(local_grads, "local_grads") : nullptr;
    if (local_grads && !locals) {
        Py_DECREF(kids);
        return nullptr;
    }
    PyObject* self = guarded([&]() -> PyObject* {
        std::vector<Node*> nodes;
        std::vector<double> numbers;
        if (!read_children(kids, nodes)) return nullptr;
        if (locals && !read_local_grads(locals, numbers)) return nullptr;
        if (locals && numbers.size() != nodes.size())
            return PyErr_Format(PyExc_ValueError,
                                "Value(): %zd local_grads for %zd children (one local derivative per child)",
                                Py_ssize_t(numbers.size()), Py_ssize_t(nodes.size()));
        if (op && !PyUnicode_Check(op))
            return PyErr_Format(PyExc_TypeError, "Value() _op must be a str (the op's name), not %.200s",
                                Py_TYPE(op)->tp_name);
        Node* node;
        if (nodes.empty())
            node = make_leaf(data);
        else if (locals)
            node = make_local_grads(data, nodes.data(), numbers.data(), nodes.size());
        else
            node = make_custom(data, nodes.data(), nodes.size());
        PyObject* out = wrap(node);
        const bool named = op && (node->op == Op::custom || PyUnicode_GET_LENGTH(op) > 0);
        if (out && named && set_op_name_from(op, node) < 0) Py_CLEAR(out);
        return out;
    });
    Py_DECREF(kids);
    Py_XDECREF(locals);
    return self;
}

// --- what every Value shows of its own step ------------------------------------------------

namespace {

// The node's own chain-rule step, once: micrograd's _backward() of a built-in op.
PyObject* step(PyObject* self, PyObject* /*unused*/) {
    return guarded([&]() -> PyObject* {
        ops::backward(*node_of(self));
        Py_RETURN_NONE;
    });
}

PyMethodDef step_def = {
    "_backward", step, METH_NOARGS,
    PyDoc_STR("_backward()\n--\n\nThis node's chain-rule step, once: adds each local derivative times this node's "
              "grad\nto its operand's grad (micrograd's _backward; nothing for a leaf).")};

}  // namespace

PyObject* get_backward(PyObject* self, void*) {
    const Node* node = node_of(self);
    if (node->op == Op::custom && backward_of(node)) {
        Py_INCREF(backward_of(node));
        return backward_of(node);
    }
    return PyCFunction_New(&step_def, self);
}

int set_backward(PyObject* self, PyObject* fn, void*) {
    Node* node = node_of(self);
    if (node->op != Op::custom) {
        if (node->is_leaf())
            PyErr_SetString(PyExc_TypeError,
                            "cannot assign _backward to a leaf: make the node with its operands and an op name, "
                            "out = Value(data, (a, b), 'op'), then assign out._backward");
        else
            PyErr_Format(PyExc_TypeError,
                         "cannot assign _backward to a node of the built-in op '%s': its backward is the op's own; "
                         "make a custom node, out = Value(data, children, 'op'), to give it one",
                         std::string(ops::name(node->op)).c_str());
        return -1;
    }
    if (fn && !PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "_backward must be callable (with no arguments), not %.200s",
                     Py_TYPE(fn)->tp_name);
        return -1;
    }
    PyObject* old = backward_of(node);
    Py_XINCREF(fn);
    node->payload() = fn;  // del out._backward: none, as a node never given one
    Py_XDECREF(old);
    return 0;
}

PyObject* get_local_grads(PyObject* self, void*) {
    const Node* node = node_of(self);
    if (node->op == Op::custom) Py_RETURN_NONE;  // its derivatives are its code's
    return guarded([&]() -> PyObject* {
        std::vector<double> locals;
        node->for_each_child([&](Node*) { locals.push_back(0.0); });
        ops::chain_rule(
            *node, 1.0, [](const Node* p) { return p->data; },
            [&locals](Node*, std::size_t k) -> double& { return locals[k]; });
        PyObject* out = PyTuple_New(Py_ssize_t(locals.size()));
        if (!out) return nullptr;
        for (std::size_t i = 0; i < locals.size(); ++i) {
            PyObject* x = PyFloat_FromDouble(locals[i]);
            if (!x) {
                Py_DECREF(out);
                return nullptr;
            }
            PyTuple_SET_ITEM(out, Py_ssize_t(i), x);
        }
        return out;
    });
}

}  // namespace micrograd::python
