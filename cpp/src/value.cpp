#include <stdexcept>

#include "micrograd/value.hpp"

namespace micrograd {

Value dot(const std::vector<Value>& a, const std::vector<Value>& b) {
    if (a.size() != b.size()) throw std::invalid_argument("dot: the two sequences differ in length");
    if (a.empty()) return Value(0.0);
    std::vector<Node*> pairs;
    pairs.reserve(2 * a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        pairs.push_back(a[i].node());
        pairs.push_back(b[i].node());
    }
    return Value::adopt(make_nary(Op::dot, pairs.data(), pairs.size()));
}

Value sum(const std::vector<Value>& values) {
    if (values.empty()) return Value(0.0);
    std::vector<Node*> nodes;
    nodes.reserve(values.size());
    for (const Value& v : values)
        nodes.push_back(v.node());
    return Value::adopt(make_nary(Op::sum, nodes.data(), nodes.size()));
}

}  // namespace micrograd
