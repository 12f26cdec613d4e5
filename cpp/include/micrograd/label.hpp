// Optional texts of a node, kept beside the graph: most nodes have none, so a
// string per node would triple its size. A label is the user's name for a node; an
// op name is the name a node of a user's op was made with (op_table.hpp's
// MICROGRAD_USER_OPS), shown where a built-in op shows its own.
#pragma once

#include <string>

#include "micrograd/node.hpp"

namespace micrograd {

// The label of node, empty if it has none.
const std::string& label(const Node* node);

// Sets (or, with an empty string, removes) the label of node.
void set_label(Node* node, std::string text);

// The op name node was made with (Node::has_name), empty if none.
const std::string& op_name(const Node* node);

// Gives node an op name; an empty one is kept as empty (micrograd's _op='').
void set_op_name(Node* node, std::string text);

// Called when a node with a label or an op name is freed.
void forget_texts(const Node* node) noexcept;

}  // namespace micrograd
