#include "init_guard.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

// One guarded __init__: pybind11's, the class it constructs, and the method definition of the guard
// (the Python function keeps this alive through its capsule, which it holds as its `self`).
struct GuardedInit {
    py::object init;  // pybind11's __init__
    const py::detail::type_info* type = nullptr;
    std::string name;  // the class's __name__, for messages
    std::string doc;   // pybind11's, with the signature the stub generator reads
    PyMethodDef def{};
};

// The instances whose __init__ is running, each with the class being constructed. Guarded by the
// GIL (the module declares that it needs one); a handful at most.
std::vector<std::pair<PyObject*, const py::detail::type_info*>> running;

bool is_constructed(PyObject* self, const py::detail::type_info* type) {
    const py::detail::value_and_holder part =
        reinterpret_cast<py::detail::instance*>(self)->get_value_and_holder(type, /*throw_if_missing=*/false);
    return part && part.holder_constructed();
}

PyObject* guarded_init(PyObject* capsule, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    const auto* guard = static_cast<const GuardedInit*>(PyCapsule_GetPointer(capsule, nullptr));
    if (!guard) return nullptr;
    const char* name = guard->name.c_str();
    if (nargs < 1 || !PyObject_TypeCheck(args[0], guard->type->type)) {
        return PyErr_Format(PyExc_TypeError, "%s.__init__() needs a %s as self, not %.200s", name, name,
                            nargs < 1 ? "nothing" : Py_TYPE(args[0])->tp_name);
    }
    PyObject* self = args[0];
    const auto entry = std::make_pair(self, guard->type);
    if (std::find(running.begin(), running.end(), entry) != running.end()) {
        return PyErr_Format(PyExc_TypeError,
                            "%s.__init__() was called while it runs on this %s (from the Python code of one of "
                            "its arguments, or from another thread): __init__ runs once; make a new %s(...)",
                            name, name, name);
    }
    if (is_constructed(self, guard->type)) {
        return PyErr_Format(PyExc_TypeError,
                            "this %s is already initialised: __init__ runs once per instance; make a new %s(...)", name,
                            name);
    }
    try {
        running.push_back(entry);
    } catch (const std::bad_alloc&) {
        return PyErr_NoMemory();
    }
    PyObject* result = PyObject_Vectorcall(guard->init.ptr(), args, size_t(nargs), kwnames);
    running.erase(std::find(running.begin(), running.end(), entry));  // not always the last: threads
    return result;
}

}  // namespace

void guard_init(const py::handle& cls) {
    auto guard = std::make_unique<GuardedInit>();
    guard->init = cls.attr("__init__");
    guard->type = py::detail::get_type_info(reinterpret_cast<PyTypeObject*>(cls.ptr()));
    if (!guard->type) throw py::type_error("guard_init: not a pybind11 class");
    guard->name = py::str(cls.attr("__name__"));
    const py::object doc = guard->init.attr("__doc__");
    guard->doc = doc.is_none() ? std::string() : std::string(py::str(doc));
    guard->def = {"__init__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(guarded_init)),
                  METH_FASTCALL | METH_KEYWORDS, guard->doc.c_str()};
    PyMethodDef* def = &guard->def;
    py::capsule owner(guard.get(), [](void* p) { delete static_cast<GuardedInit*>(p); });
    guard.release();  // the capsule owns it now
    auto function =
        py::reinterpret_steal<py::object>(PyCFunction_NewEx(def, owner.ptr(), cls.attr("__module__").ptr()));
    if (!function) throw py::error_already_set();
    // As pybind11 binds its own methods: an instancemethod, which passes the instance as args[0].
    auto method = py::reinterpret_steal<py::object>(PyInstanceMethod_New(function.ptr()));
    if (!method) throw py::error_already_set();
    py::setattr(cls, "__init__", method);
}
