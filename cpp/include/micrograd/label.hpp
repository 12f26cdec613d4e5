// Optional user labels, kept beside the graph: most nodes have none, so a
// string per node would triple its size.
#pragma once

#include <string>

#include "micrograd/node.hpp"

namespace micrograd {

// The label of node, empty if it has none.
const std::string& label(const Node* node);

// Sets (or, with an empty string, removes) the label of node.
void set_label(Node* node, std::string text);

// Called when a labelled node is freed.
void forget_label(const Node* node) noexcept;

}  // namespace micrograd
