#include "micrograd/label.hpp"

#include <unordered_map>

namespace micrograd {
namespace {
std::unordered_map<const Node*, std::string>& labels() {
    static auto* table = new std::unordered_map<const Node*, std::string>();  // outlives static destructors
    return *table;
}
}  // namespace

const std::string& label(const Node* node) {
    static const std::string none;
    if (!node->test(Node::has_label)) return none;
    return labels().at(node);
}

void set_label(Node* node, std::string text) {
    if (text.empty()) {
        forget_label(node);
        node->set(Node::has_label, false);
        return;
    }
    labels()[node] = std::move(text);
    node->set(Node::has_label, true);
}

void forget_label(const Node* node) noexcept {
    if (node->test(Node::has_label)) labels().erase(node);
}

}  // namespace micrograd
