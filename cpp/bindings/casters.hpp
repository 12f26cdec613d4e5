// How pybind11 functions take the engine's Python types: a micrograd::Value as the Python `Value` of
// value_type.hpp (a C-API type, not a py::class_), a real number by the one rule (real_number.hpp),
// and an iterable argument as it is, for the one reader (iterables.hpp) to read in the body.
#pragma once

#include <pybind11/pybind11.h>

#include <utility>

#include "micrograd/graph.hpp"
#include "micrograd/value.hpp"
#include "real_number.hpp"
#include "value_type.hpp"

// A real number, as Value() takes it. pybind11's own double would also take containers with a
// __float__ (a NumPy array), and drop the exception a __float__ raises (Ctrl-C among them), calling
// it a second time before reporting "incompatible function arguments".
struct Real {
    double value;
    operator double() const { return value; }  // NOLINT(google-explicit-constructor): a number, as it reads
};

// An iterable argument, taken as it is: pybind11 runs none of its code (its py::iterable calls
// __iter__ once to check the argument, and the body would call it again to read it). Name gives its
// type in the signature and the stub: struct { static constexpr auto name = const_name("..."); }.
// Also any other argument whose body reads it itself (map's threads, through its __index__).
template <class Name>
struct Iterable {
    pybind11::handle obj;
};

namespace pybind11::detail {

template <>
class type_caster<micrograd::Value> {
public:
    static constexpr auto name = const_name("Value");

    // A Value; with implicit conversion allowed, a real number too (as a
    // constant leaf), as the operators accept.
    bool load(handle src, bool convert) {
        using namespace micrograd::python;
        if (is_value(src.ptr())) {
            value_ = micrograd::Value::share(node_of(src.ptr()));
            return true;
        }
        double x;
        const int found = convert ? to_real(src.ptr(), &x) : 0;
        if (found < 0) throw error_already_set();  // its __float__ raised (Ctrl-C, MemoryError): not ours to drop
        if (found == 0) return false;
        value_ = micrograd::Value(x);
        return true;
    }

    static handle cast(micrograd::Value value, return_value_policy /*policy*/, handle /*parent*/) {
        PyObject* obj = micrograd::python::wrap(value.release_node());
        if (!obj) throw error_already_set();
        return obj;
    }

    template <typename T>
    using cast_op_type = movable_cast_op_type<T>;
    explicit operator micrograd::Value*() { return &value_; }
    explicit operator micrograd::Value&() { return value_; }
    explicit operator micrograd::Value&&() && { return std::move(value_); }

private:
    micrograd::Value value_ = micrograd::Value::adopt(nullptr);  // none until load() (as a moved-from Value)
};

template <>
class type_caster<Real> {
public:
    PYBIND11_TYPE_CASTER(Real, io_name("typing.SupportsFloat | typing.SupportsIndex", "float"));

    bool load(handle src, bool convert) {
        if (!convert && !PyFloat_Check(src.ptr()) && !PyLong_Check(src.ptr())) return false;
        const int found = micrograd::python::to_real(src.ptr(), &value.value);
        if (found < 0) throw error_already_set();  // as for a Value: its own exception
        return found == 1;
    }

    static handle cast(Real x, return_value_policy /*policy*/, handle /*parent*/) {
        PyObject* obj = PyFloat_FromDouble(x.value);
        if (!obj) throw error_already_set();
        return obj;
    }
};

template <class Name>
class type_caster<Iterable<Name>> {
public:
    PYBIND11_TYPE_CASTER(Iterable<Name>, Name::name);

    bool load(handle src, bool /*convert*/) {
        value.obj = src;
        return true;
    }
};

}  // namespace pybind11::detail
