// __init__ for the py::class_ types of _core: it runs once per instance, and nothing re-enters it.
//
// pybind11 checks that an instance is not initialised yet only as its __init__ starts. The call then
// runs Python code (an argument's __float__, __index__ or __len__ in pybind11's casters, an
// iterable's __iter__ in our factories), and that code may call __init__ on the same instance again:
// both calls construct it, and freeing it ends in std::terminate ("Tried to deallocate unregistered
// instance!"). A second __init__ after the first is ignored silently. def_init defines __init__
// through py::init and wraps it in a guard held across the whole call, from before the first argument
// is converted to after the instance is constructed: a second or a re-entrant __init__ (from that
// Python code, or from another thread meanwhile) is a TypeError, and until the first one returns the
// instance has no C++ object, so its members refuse it (Initialised<T>, initialised.hpp).
#pragma once

#include <pybind11/pybind11.h>

#include <utility>

// Replaces cls.__init__, pybind11's, by the guarded one; the last definition of cls.__init__.
void guard_init(const pybind11::handle& cls);

// cls.def(py::init(factory), extra...), guarded: every py::class_ of _core is constructed through it.
template <class Class, class Factory, class... Extra>
void def_init(Class& cls, Factory&& factory, const Extra&... extra) {
    cls.def(pybind11::init(std::forward<Factory>(factory)), extra...);
    guard_init(cls);
}
