// `self` for the methods of a py::class_ whose instances may lack a C++ object.
//
// An instance made without __init__ (Cls.__new__(Cls), or unpickled) has none, nor has one whose
// __init__ failed or is still running (def_init, init_guard.hpp), and pybind11 hands its methods a
// pointer to raw, never-constructed memory.
// A method that takes `Initialised<T> self` instead of `T&` gets a TypeError
// for such an instance before its body runs; signatures still read `self: T`.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/typing.h>

#include <string>
#include <utility>

template <class T>
struct Initialised {
    T* self = nullptr;
    T* operator->() const { return self; }
    T& operator*() const { return *self; }
};

namespace pybind11::detail {

template <class T>
class type_caster<Initialised<T>> {
public:
    static constexpr auto name = make_caster<T>::name;

    bool load(handle src, bool convert) {
        if (!isinstance<T>(src)) return false;  // another type: pybind11's usual TypeError
        values_and_holders parts(src.ptr());    // one per pybind11 base, as pybind11_meta_call checks
        for (const value_and_holder& part : parts) {
            if (!part.holder_constructed() && !parts.is_redundant_value_and_holder(part)) {
                const std::string type_name = str(type::handle_of(src).attr("__name__"));
                throw type_error("this " + type_name + " has no state: it was made without __init__ (by __new__ or " +
                                 "unpickling), or its __init__ failed or has not returned yet: create one by calling " +
                                 type_name + "(...)");
            }
        }
        make_caster<T> base;
        if (!base.load(src, convert)) return false;
        value_.self = cast_op<T*>(base);
        return true;
    }

    template <typename>
    using cast_op_type = Initialised<T>;
    explicit operator Initialised<T>() { return value_; }

private:
    Initialised<T> value_;
};

}  // namespace pybind11::detail

// Makes pickling and copying instances of cls a TypeError, at every protocol. Without it, protocols 0
// and 1 take copyreg's path, which calls pybind11's common base type, whose __new__ throws from C:
// std::terminate ("instance allocation failed: new instance has no pybind11-registered base types").
// what_instead: what to do instead, for the message.
template <class Class>
void refuse_pickling(Class& cls, std::string what_instead) {
    cls.def(
        "__reduce__",
        [what_instead = std::move(what_instead)](
            const pybind11::handle& self) -> pybind11::typing::Tuple<pybind11::object, pybind11::ellipsis> {
            const std::string type_name = pybind11::str(pybind11::type::handle_of(self).attr("__name__"));
            throw pybind11::type_error("cannot pickle '" + type_name + "' object: " + what_instead);
        },
        "Refuses with TypeError: not picklable.");
}
