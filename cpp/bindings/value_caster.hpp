// Lets pybind11 functions take and return micrograd::Value as the Python
// `Value` type of value_type.hpp (a C-API type, not a py::class_).
#pragma once

#include <pybind11/pybind11.h>

#include <optional>
#include <utility>

#include "micrograd/graph.hpp"
#include "micrograd/value.hpp"
#include "value_type.hpp"

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
            value_.emplace(micrograd::Value::share(node_of(src.ptr())));
            return true;
        }
        double x;
        const int found = convert ? to_real(src.ptr(), &x) : 0;
        if (found < 0) throw error_already_set();  // its __float__ raised (Ctrl-C, MemoryError): not ours to drop
        if (found == 0) return false;
        value_.emplace(x);
        return true;
    }

    static handle cast(micrograd::Value value, return_value_policy /*policy*/, handle /*parent*/) {
        PyObject* obj = micrograd::python::wrap(value.release_node());
        if (!obj) throw error_already_set();
        return obj;
    }

    template <typename T>
    using cast_op_type = movable_cast_op_type<T>;
    explicit operator micrograd::Value*() { return &*value_; }
    explicit operator micrograd::Value&() { return *value_; }
    explicit operator micrograd::Value&&() && { return std::move(*value_); }

private:
    std::optional<micrograd::Value> value_;
};

}  // namespace pybind11::detail
