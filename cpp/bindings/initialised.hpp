// `self` for the methods of a py::class_ whose instances may lack a C++ object.
//
// An instance made without __init__ (Cls.__new__(Cls), or unpickled) has none,
// and pybind11 hands its methods a pointer to raw, never-constructed memory.
// A method that takes `Initialised<T> self` instead of `T&` gets a TypeError
// for such an instance before its body runs; signatures still read `self: T`.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

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
                throw type_error("this " + type_name + " was made without __init__ (by __new__ or unpickling) " +
                                 "and has no state: create one by calling " + type_name + "(...)");
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
