#include "micrograd/label.hpp"

#include <unordered_map>

namespace micrograd {
namespace {
using Texts = std::unordered_map<const Node*, std::string>;
Texts& labels() {
    static auto* table = new Texts();  // outlives static destructors
    return *table;
}
Texts& op_names() {
    static auto* table = new Texts();
    return *table;
}
const std::string none;
}  // namespace

const std::string& label(const Node* node) {
    if (!node->test(Node::has_label)) return none;
    return labels().at(node);
}

void set_label(Node* node, std::string text) {
    if (text.empty()) {
        if (node->test(Node::has_label)) labels().erase(node);
        node->set(Node::has_label, false);
        return;
    }
    labels()[node] = std::move(text);
    node->set(Node::has_label, true);
}

const std::string& op_name(const Node* node) {
    if (!node->test(Node::has_name)) return none;
    return op_names().at(node);
}

void set_op_name(Node* node, std::string text) {
    op_names()[node] = std::move(text);
    node->set(Node::has_name, true);
}

void forget_texts(const Node* node) noexcept {
    if (node->test(Node::has_label)) labels().erase(node);
    if (node->test(Node::has_name)) op_names().erase(node);
}

}  // namespace micrograd
