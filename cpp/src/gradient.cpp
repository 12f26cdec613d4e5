// micrograd::grad and micrograd::hessian (gradient.hpp), in two steps:
//
//   Plan    the outputs' graph in topological order, each node's operands by
//           their index in it, and which nodes lead to an input (the others
//           need no gradient);
//   sweep   from the outputs down, each node's chain rule (ops::chain_rule: the
//           op's own formula in ops.hpp) on numbers, or on terms that build
//           the nodes computing them (create_graph).
//
// Neither step reads or writes a node's grad: the gradients live in the
// sweep's own arrays, so grad() is functional and two of them never meet.
#include "micrograd/gradient.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "micrograd/graph.hpp"
#include "micrograd/label.hpp"
#include "micrograd/ops.hpp"

namespace micrograd {
namespace {

constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
constexpr std::size_t poll_every = std::size_t(1) << 16;

// --- the plan ---------------------------------------------------------------------

// Node -> its place in an order: open addressing, linear probing, at most half
// full. The slot is the address itself (its low bits, past the alignment), with
// a scrambled offset per 256 MiB: nodes made one after the other sit side by
// side in memory and in topological order, so the lookups of a walk touch the
// table in order instead of at random. The table is kept between calls (up to
// 16 MiB), its slots stamped with the call that wrote them, so that a call
// neither clears it nor page-faults it in again; callers serialise (node.hpp).
class NodeIndex {
public:
    // The shared table, or a table of its own when the shared one is in use (a
    // grad() from a signal handler that ran in the middle of another's poll).
    NodeIndex() : table_(shared().in_use ? own_ : shared()) {
        if (table_.slots.empty()) table_.slots.resize(64);
        next_stamp();
        table_.in_use = true;
    }
    NodeIndex(const NodeIndex&) = delete;
    NodeIndex& operator=(const NodeIndex&) = delete;
    ~NodeIndex() {
        table_.in_use = false;
        constexpr std::size_t keep = std::size_t(1) << 20;  // slots: 16 MiB
        if (table_.slots.size() > keep) std::vector<Slot>().swap(table_.slots);
    }

    // Room for count nodes in all, made at once (growing as it fills costs more).
    void reserve(std::size_t count) {
        if (2 * count > table_.slots.size()) grow(2 * count);
    }
    void insert(const Node* node, std::uint32_t place) {
        if (2 * (count_ + 1) > table_.slots.size()) grow(2 * (count_ + 1));
        put(node, place);
        ++count_;
    }
    // Its place, or none.
    std::uint32_t find(const Node* node) const {
        const Slot* slots = table_.slots.data();
        const std::size_t mask = table_.slots.size() - 1;
        for (std::size_t h = home(node, mask);; h = (h + 1) & mask) {
            const Slot& s = slots[h];
            if (s.stamp != table_.stamp) return none;
            if (s.key == node) return s.value;
        }
    }

private:
    struct Slot {
        const Node* key = nullptr;
        std::uint32_t value = none;
        std::uint32_t stamp = 0;  // the call that wrote it; another call's slot is empty
    };
    struct Table {
        std::vector<Slot> slots;  // a power of 2 of them
        std::uint32_t stamp = 0;
        bool in_use = false;
    };
    static Table& shared() {
        static auto* table = new Table();  // never destroyed: gradients may be taken at interpreter exit
        return *table;
    }
    static std::size_t home(const Node* node, std::size_t mask) {
        const auto p = reinterpret_cast<std::uintptr_t>(node);
        return std::size_t((p >> 4) + (std::uint64_t(p >> 28) * 0x9E3779B97F4A7C15u >> 32)) & mask;
    }
    void next_stamp() {
        if (++table_.stamp == 0) {  // 2**32 calls: the stamps wrap, so clear them
            std::fill(table_.slots.begin(), table_.slots.end(), Slot{});
            table_.stamp = 1;
        }
    }
    void put(const Node* node, std::uint32_t place) {
        Slot* slots = table_.slots.data();
        const std::size_t mask = table_.slots.size() - 1;
        std::size_t h = home(node, mask);
        while (slots[h].stamp == table_.stamp)
            h = (h + 1) & mask;
        slots[h] = Slot{node, place, table_.stamp};
    }
    void grow(std::size_t at_least) {
        std::size_t capacity = table_.slots.size();
        while (capacity < at_least)
            capacity *= 2;
        std::vector<Slot> bigger(capacity);  // may throw: nothing changed yet
        bigger.swap(table_.slots);
        const std::uint32_t old = table_.stamp;
        table_.stamp = 1;
        for (const Slot& s : bigger)
            if (s.stamp == old) put(s.key, s.value);
    }

    Table own_;
    Table& table_;
    std::size_t count_ = 0;
};

struct Plan {
    std::vector<Node*> order;                  // every node reachable from the outputs, operands first
    std::vector<std::uint32_t> begin;          // order[i]'s operands are operand[begin[i] .. begin[i + 1])
    std::vector<std::uint32_t> operand;        // by place in order, first operand first (none: a leaf
                                               // that is no input)
    std::vector<std::uint8_t> kind;            // needed, input
    std::vector<std::uint32_t> outputs;        // places of the outputs (none: a leaf that is no input)
    std::vector<std::uint32_t> inputs;         // places of the inputs, none for one not in the graph
    static constexpr std::uint8_t needed = 1;  // an input, or a node with a needed operand
    static constexpr std::uint8_t input = 2;

    // One pass over the order. A node's operands are mostly the one or two
    // nodes just before it (depth first: a chain, a neuron's running sum), found
    // there; the others in the index, which holds the nodes before the first one
    // that had to be looked up (so that a chain needs none). Leaves that are not
    // inputs need no gradient and no place (their operand entries are none).
    Plan(const std::vector<Node*>& outs, const std::vector<Node*>& ins, Poll poll) {
        order = topological_order(outs.data(), outs.size());
        const std::size_t n = order.size();
        if (n >= none) throw std::length_error("grad: a graph of 2**32 - 1 nodes or more");
        // The inputs and outputs, sorted, to find them by address, and their places once met.
        struct Named {
            const Node* node;
            bool input;
            std::uint32_t place;
        };
        std::vector<Named> named;
        for (Node* in : ins)
            named.push_back(Named{in, true, none});
        for (Node* out : outs)
            named.push_back(Named{out, false, none});
        std::sort(named.begin(), named.end(), [](const Named& a, const Named& b) {
            return a.node < b.node || (a.node == b.node && a.input > b.input);  // an input first
        });
        auto named_as = [&named](const Node* node) -> Named* {
            auto it = std::lower_bound(named.begin(), named.end(), node,
                                       [](const Named& a, const Node* b) { return a.node < b; });
            return it != named.end() && it->node == node ? &*it : nullptr;
        };
        auto placed = [&](const Node* node) {
            if (!node->is_leaf()) return true;
            const Named* found = named_as(node);
            return found && found->input;
        };
        NodeIndex index;
        std::size_t indexed = 0;  // order[0 .. indexed) are in the index (those placed)
        auto find = [&](const Node* node, std::size_t before) {
            if (indexed == 0) index.reserve(n);  // the first miss: the rest will likely need the index too
            for (; indexed < before; ++indexed)
                if (placed(order[indexed])) index.insert(order[indexed], std::uint32_t(indexed));
            return index.find(node);
        };
        begin.resize(n + 1);
        operand.reserve(n + n / 2);
        for (std::size_t i = 0; i < n; ++i) {
            if (poll && i % poll_every == poll_every - 1) poll();
            Node* node = order[i];
            if (Named* found = named_as(node)) found->place = std::uint32_t(i);
            begin[i] = std::uint32_t(operand.size());
            node->for_each_child([&](Node* child) {
                std::uint32_t j;
                if (i >= 1 && order[i - 1] == child)
                    j = std::uint32_t(i - 1);
                else if (i >= 2 && order[i - 2] == child)
                    j = std::uint32_t(i - 2);
                else
                    j = placed(child) ? find(child, i) : none;  // found: it is reachable
                operand.push_back(j);
            });
            if (operand.size() >= none) throw std::length_error("grad: a graph of 2**32 - 1 operands or more");
        }
        begin[n] = std::uint32_t(operand.size());
        for (Node* in : ins)
            inputs.push_back(named_as(in)->place);
        for (Node* out : outs) {
            const Named* found = named_as(out);
            outputs.push_back(out->is_leaf() && !found->input ? none : found->place);
        }
        // What depends on an input, now that the inputs are known by place.
        kind.assign(n, 0);
        for (std::uint32_t i : inputs)
            if (i != none) kind[i] = needed | input;
        for (std::size_t i = 0; i < n; ++i) {
            if (kind[i] & needed) continue;
            for (std::uint32_t e = begin[i]; e < begin[i + 1]; ++e) {
                const std::uint32_t j = operand[e];
                if (j != none && (kind[j] & needed)) {
                    kind[i] = needed;
                    break;
                }
            }
        }
    }

    std::size_t size() const { return order.size(); }
    bool is_needed(std::uint32_t i) const { return i != none && (kind[i] & needed) != 0; }
    bool is_input(std::uint32_t i) const { return (kind[i] & input) != 0; }
};

// A custom node whose backward is Python code (micrograd's out._backward = f) writes .grad as it
// runs: it has no formula to run on a sweep's own arrays, nor to build a gradient graph from.
[[noreturn]] void refuse_code_derivative(const Node& node) {
    throw not_differentiable("grad(): the graph has a node of a custom op whose backward is Python code (_op '" +
                             op_name(&node) +
                             "', its _backward assigned): grad() cannot run it; use .backward(), or make the op "
                             "with local gradients, Value(data, children, local_grads)");
}

// --- the sweep on numbers ---------------------------------------------------------

// The gradients of the plan's nodes into grad (by place), from weights[k] at
// outputs[k]: the chain rule at each needed node, from the last, exactly as
// micrograd::backward does (the same order, the same formulas, the same sums),
// at the nodes reach[i] != 0 if reach is given.
void numeric_sweep(const Plan& plan, const std::vector<double>& weights, std::vector<double>& grad,
                   const std::vector<std::uint8_t>* reach, Poll poll) {
    const std::size_t n = plan.size();
    grad.assign(n, 0.0);
    for (std::size_t k = 0; k < plan.outputs.size(); ++k)
        if (plan.outputs[k] != none) grad[plan.outputs[k]] += weights[k];
    double unused = 0.0;  // where the gradients of operands that need none go
    for (std::size_t i = n; i-- > 0;) {
        if (poll && i % poll_every == 0) poll();
        if (!plan.is_needed(std::uint32_t(i)) || (reach && !(*reach)[i])) continue;
        const std::uint32_t* operand = plan.operand.data() + plan.begin[i];
        if (plan.order[i]->op == Op::custom) refuse_code_derivative(*plan.order[i]);
        ops::chain_rule(
            *plan.order[i], grad[i], [](const Node* p) { return p->data; },
            [&](Node*, std::size_t k) -> double& {
                const std::uint32_t j = operand[k];
                return plan.is_needed(j) ? grad[j] : unused;
            });
    }
}

// --- the sweep on terms: gradient graphs ------------------------------------------

// A node of the graph being built, as the derivative formulas see it (their T):
// a view, passed by value as a double is. The builder owns a reference to each
// node it made; the outputs' graph is the caller's, alive for the call.
struct Term {
    Node* node = nullptr;  // null: no gradient
    std::uint8_t flags = 0;
    static constexpr std::uint8_t one = 1;       // the constant 1: a product with it is the other factor
    static constexpr std::uint8_t constant = 2;  // a constant leaf made here (shared: never handed out)
    static constexpr std::uint8_t prior = 4;     // a node of the outputs' graph or a weight (not made here)
    bool is(std::uint8_t f) const { return (flags & f) != 0; }
};

// Expressions over terms, unevaluated: what `g * (1.0 - out * out)` is before
// it is added to a gradient, so that a gradient nobody needs is never built
// and a product can wait to become a term of a dot.
struct Number {
    double value;
};
template <class S, class A>
struct Unary {
    A a;
};
template <class S, class A, class B>
struct Binary {
    A a;
    B b;
};

template <class X>
struct is_expression : std::false_type {};
template <>
struct is_expression<Term> : std::true_type {};
template <class S, class A>
struct is_expression<Unary<S, A>> : std::true_type {};
template <class S, class A, class B>
struct is_expression<Binary<S, A, B>> : std::true_type {};
template <class X>
constexpr bool is_expression_v = is_expression<X>::value;

template <class X>
auto lift(const X& x) {
    if constexpr (std::is_arithmetic_v<X>)
        return Number{double(x)};
    else
        return x;
}
template <class X>
using Lifted = decltype(lift(std::declval<X>()));

template <class A, class B>
using IfExpression = std::enable_if_t<is_expression_v<A> || is_expression_v<B>, int>;

// What ops.hpp's formulas call: the operators and apply<Struct> (ops::log(x), ...).
template <class S, class A, std::enable_if_t<is_expression_v<A>, int> = 0>
Unary<S, A> apply(const A& a) {
    return {a};
}
template <class S, class A, class B, IfExpression<A, B> = 0>
Binary<S, Lifted<A>, Lifted<B>> apply(const A& a, const B& b) {
    return {lift(a), lift(b)};
}
template <class A, class B, IfExpression<A, B> = 0>
auto operator+(const A& a, const B& b) {
    return apply<ops::Add>(a, b);
}
template <class A, class B, IfExpression<A, B> = 0>
auto operator-(const A& a, const B& b) {
    return apply<ops::Sub>(a, b);
}
template <class A, class B, IfExpression<A, B> = 0>
auto operator*(const A& a, const B& b) {
    return apply<ops::Mul>(a, b);
}
template <class A, class B, IfExpression<A, B> = 0>
auto operator/(const A& a, const B& b) {
    return apply<ops::Div>(a, b);
}
template <class A, std::enable_if_t<is_expression_v<A>, int> = 0>
auto operator-(const A& a) {
    return apply<ops::Neg>(a);
}

// The op of each struct, from the table.
template <class S>
struct OpOf;
#define MICROGRAD_OP_OF(id, Struct, ...)                                            \
    template <>                                                                     \
    struct OpOf<ops::Struct> {                                                      \
        [[maybe_unused]] static constexpr Op op = Op::id;                           \
        [[maybe_unused]] static constexpr Arity arity = ::micrograd::arity(Op::id); \
    };
MICROGRAD_OPS(MICROGRAD_OP_OF)
#undef MICROGRAD_OP_OF

// Makes the nodes of a gradient graph; owns one reference to each until it is
// destroyed (the results are shared before). A node is recorded before it is
// made, so that a failure leaves nothing unowned.
class Builder {
public:
    Builder() = default;
    Builder(const Builder&) = delete;
    Builder& operator=(const Builder&) = delete;
    ~Builder() {
        for (Node* node : made_)
            if (node) release(node);
    }

    // A constant leaf, one per value and builder.
    Term constant(double x) {
        std::uint64_t bits;
        std::memcpy(&bits, &x, sizeof bits);
        if (recent_.node && bits == recent_bits_) return recent_;
        auto found = constants_.find(bits);
        if (found == constants_.end()) {
            Term made = record([&] { return make_leaf(x); });
            made.flags = std::uint8_t(Term::constant | (x == 1.0 ? Term::one : 0));
            found = constants_.emplace(bits, made).first;  // may throw: the leaf is recorded
        }
        recent_bits_ = bits;
        recent_ = found->second;
        return recent_;
    }
    Term one() { return constant(1.0); }

    Term node(Op op, Term x) {
        return record([&] { return make_unary(op, x.node); });
    }
    Term node(Op op, Term x, Term y) {
        if (op == Op::mul) {  // 1 * y is y, bit for bit
            if (x.is(Term::one)) return y;
            if (y.is(Term::one)) return x;
        }
        return record([&] { return make_binary(op, x.node, y.node); });
    }
    Term power(Term x, double k) {
        return record([&] { return make_pow_const(x.node, k); });
    }
    Term nary(Op op, const std::vector<Node*>& operands) {
        return record([&] { return make_nary(op, operands.data(), operands.size()); });
    }
    // A new leaf, for a result.
    Term leaf(double x) {
        return record([&] { return make_leaf(x); });
    }

    Term eval(const Term& t) { return t; }
    Term eval(const Number& x) { return constant(x.value); }
    template <class S, class A>
    Term eval(const Unary<S, A>& e) {
        return node(OpOf<S>::op, eval(e.a));
    }
    template <class S, class A, class B>
    Term eval(const Binary<S, A, B>& e) {
        if constexpr (OpOf<S>::arity == Arity::scalar) {  // x ** k: k is a number
            static_assert(std::is_same_v<B, Number>, "the constant of x ** k is a number");
            return power(eval(e.a), e.b.value);
        } else {
            const Term a = eval(e.a);
            return node(OpOf<S>::op, a, eval(e.b));
        }
    }

private:
    template <class Make>
    Term record(Make make) {
        made_.push_back(nullptr);  // the room first: once the node exists, nothing may fail
        Node* node = make();
        made_.back() = node;
        return Term{node, 0};
    }

    std::vector<Node*> made_;
    std::unordered_map<std::uint64_t, Term> constants_;
    Term recent_;
    std::uint64_t recent_bits_ = 0;
};

// What a derivative formula adds to one operand's gradient (their G): a term,
// or a product of two kept apart (a * b), which becomes a node only if it is
// the operand's one contribution, else a pair of a dot. A default one (no
// builder) drops what is added: an operand that needs no gradient.
class Contribution {
public:
    Contribution() = default;
    explicit Contribution(Builder* builder) : builder_(builder) {}

    template <class E>
    Contribution& operator+=(const E& e) {
        if (!builder_) return *this;
        if constexpr (std::is_same_v<E, Term>) {
            a = e;
        } else if constexpr (is_product<E>::value) {
            const Term x = builder_->eval(e.a), y = builder_->eval(e.b);
            if (x.is(Term::one))
                a = y;
            else if (y.is(Term::one))
                a = x;
            else {
                a = x;
                b = y;
            }
        } else {
            a = builder_->eval(lift(e));
        }
        return *this;
    }

    Term a, b;  // a alone (b.node null), or the product a * b; a.node null: nothing added

private:
    template <class E>
    struct is_product : std::false_type {};
    template <class A, class B>
    struct is_product<Binary<ops::Mul, A, B>> : std::true_type {};
    Builder* builder_ = nullptr;
};

// The sweep on terms. Each needed node's contributions wait in a list (in the
// order they arrive, which is micrograd::backward's order of adding them) until
// the sweep reaches the node; then its gradient is made at once: the one term,
// the one product, or one sum (or dot, with the products' factors) of them all,
// from 0.0 and left to right, which is how backward() adds them, bit for bit.
class GraphSweep {
public:
    GraphSweep(const Plan& plan, Builder& builder) : plan_(plan), b_(builder), head_(plan.size(), none) {
        tail_.resize(plan.size());
    }

    // The gradient at each input (a null term: none reaches it), from weights[k] at outputs[k].
    std::vector<Term> run(const std::vector<Term>& weights, Poll poll) {
        for (std::size_t k = 0; k < weights.size(); ++k) {
            const std::uint32_t o = plan_.outputs[k];
            if (!plan_.is_needed(o)) continue;
            Contribution seed(&b_);
            seed += weights[k];
            add(o, seed);
        }
        // The inputs by place, last first: the sweep meets them in that order.
        std::vector<std::pair<std::uint32_t, std::size_t>> wanted;
        for (std::size_t j = 0; j < plan_.inputs.size(); ++j)
            if (plan_.inputs[j] != none) wanted.emplace_back(plan_.inputs[j], j);
        std::sort(wanted.begin(), wanted.end());
        std::vector<Term> results(plan_.inputs.size());
        std::vector<Contribution> parts;
        for (std::size_t i = plan_.size(); i-- > 0;) {
            if (poll && i % poll_every == 0) poll();
            if (!plan_.is_needed(std::uint32_t(i))) continue;
            const Term g = gradient(std::uint32_t(i));
            for (; !wanted.empty() && wanted.back().first == i; wanted.pop_back())
                results[wanted.back().second] = g;
            const Node& node = *plan_.order[i];
            if (!g.node || node.is_leaf()) continue;
            const std::uint32_t* operand = plan_.operand.data() + plan_.begin[i];
            const std::size_t count = plan_.begin[i + 1] - plan_.begin[i];
            parts.assign(count, Contribution());
            for (std::size_t k = 0; k < count; ++k)
                if (plan_.is_needed(operand[k])) parts[k] = Contribution(&b_);
            chain(node, g, parts);
            for (std::size_t k = 0; k < count; ++k)
                if (parts[k].a.node) add(operand[k], parts[k]);
        }
        return results;
    }

private:
    struct Pending {
        Term a, b;
        std::uint32_t next;
    };

    // The node's chain rule, its operands' contributions into parts (by position).
    void chain(const Node& node, Term g, std::vector<Contribution>& parts) {
        if (node.op == Op::leaf) return;
        if (node.op == Op::custom) refuse_code_derivative(node);
        // Custom nodes (issue 17): a node of constant local gradients needs nothing
        // here. Its struct's derivative, `gx += g * local` with local a double (its
        // case in ops::chain_rule passing the node's numbers), makes local a
        // constant leaf of the gradient graph: second derivatives through it are 0.
        // A node whose derivative is Python code throws not_differentiable (a
        // TypeError) here, before ops::chain_rule; numeric_sweep says what grad()
        // without create_graph does with one.
        ops::chain_rule(
            node, g,
            [](const Node* p) {
                return Term{const_cast<Node*>(p), Term::prior};
            },
            [&parts](Node*, std::size_t k) -> Contribution& { return parts[k]; });
    }

    void add(std::uint32_t i, const Contribution& c) {
        std::uint32_t r;
        if (free_ != none) {
            r = free_;
            free_ = pending_[r].next;
        } else {
            pending_.push_back(Pending{});  // may throw: nothing changed yet
            r = std::uint32_t(pending_.size() - 1);
        }
        pending_[r] = Pending{c.a, c.b, none};
        if (head_[i] == none)
            head_[i] = r;
        else
            pending_[tail_[i]].next = r;
        tail_[i] = r;
    }

    // Node i's gradient from its contributions, which are then dropped.
    Term gradient(std::uint32_t i) {
        const std::uint32_t first = head_[i];
        if (first == none) return Term{};
        Term g;
        if (pending_[first].next == none) {
            const Pending& p = pending_[first];
            g = p.b.node ? b_.node(Op::mul, p.a, p.b) : p.a;
        } else {
            bool products = false;
            for (std::uint32_t r = first; r != none; r = pending_[r].next)
                products = products || pending_[r].b.node;
            operands_.clear();
            const Term one = products ? b_.one() : Term{};
            for (std::uint32_t r = first; r != none; r = pending_[r].next) {
                operands_.push_back(pending_[r].a.node);
                if (products) operands_.push_back(pending_[r].b.node ? pending_[r].b.node : one.node);
            }
            g = b_.nary(products ? Op::dot : Op::sum, operands_);
        }
        pending_[tail_[i]].next = free_;  // the list back to the free ones, whole
        free_ = first;
        head_[i] = none;
        return g;
    }

    const Plan& plan_;
    Builder& b_;
    std::vector<std::uint32_t> head_, tail_;  // per node: its contributions, first and last
    std::vector<Pending> pending_;
    std::uint32_t free_ = none;  // the first of the free records, linked through next
    std::vector<Node*> operands_;
};

void check_arguments(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs,
                     const std::vector<Weight>& weights) {
    if (outputs.empty()) throw std::invalid_argument("grad: no outputs");
    if (inputs.empty()) throw std::invalid_argument("grad: no inputs");
    if (!weights.empty() && weights.size() != outputs.size()) {
        throw std::invalid_argument("grad: " + std::to_string(weights.size()) + " weights for " +
                                    std::to_string(outputs.size()) + " outputs");
    }
}

}  // namespace

std::vector<Value> grad(const std::vector<Node*>& outputs, const std::vector<Node*>& inputs,
                        const std::vector<Weight>& weights, bool create_graph, bool allow_unused, Poll poll) {
    check_arguments(outputs, inputs, weights);
    const Plan plan(outputs, inputs, poll);
    if (!allow_unused) {
        for (std::size_t j = 0; j < inputs.size(); ++j) {
            if (plan.inputs[j] == none) {
                throw std::invalid_argument("grad: inputs[" + std::to_string(j) +
                                            "] is not used by the outputs (allow_unused=True gives it a 0)");
            }
        }
    }
    std::vector<Value> out;
    out.reserve(inputs.size());
    if (!create_graph) {
        std::vector<double> w(outputs.size(), 1.0);
        for (std::size_t k = 0; k < weights.size(); ++k)
            w[k] = weights[k].node ? weights[k].node->data : weights[k].number;
        std::vector<double> g;
        numeric_sweep(plan, w, g, nullptr, poll);
        for (std::uint32_t i : plan.inputs)
            out.emplace_back(i == none ? 0.0 : g[i]);
        return out;
    }
    Builder builder;
    std::vector<Term> w;
    w.reserve(outputs.size());
    for (std::size_t k = 0; k < outputs.size(); ++k) {
        if (k < weights.size() && weights[k].node)
            w.push_back(Term{weights[k].node, Term::prior});
        else
            w.push_back(builder.constant(k < weights.size() ? weights[k].number : 1.0));
    }
    const std::vector<Term> results = GraphSweep(plan, builder).run(w, poll);
    // Each result a node of its own: never a shared constant, a node of the
    // outputs' graph or a weight, which the caller could change through it.
    for (const Term& t : results) {
        Term own = t;
        if (!t.node)
            own = builder.leaf(0.0);
        else if (t.is(Term::constant))
            own = builder.leaf(t.node->data);
        else if (t.is(Term::prior))
            own = builder.node(Op::mul, builder.leaf(1.0), t);  // not the shared 1, which mul would drop
        out.push_back(Value::share(own.node));                  // room reserved: cannot throw
    }
    return out;
}

std::vector<std::vector<double>> hessian(Node* output, const std::vector<Node*>& inputs, Poll poll) {
    if (inputs.empty()) throw std::invalid_argument("hessian: no inputs");
    const std::vector<Value> first = grad({output}, inputs, {}, true, true, poll);
    std::vector<Node*> roots;
    roots.reserve(first.size());
    for (const Value& v : first)
        roots.push_back(v.node());
    const Plan plan(roots, inputs, poll);
    std::vector<std::vector<double>> rows(inputs.size(), std::vector<double>(inputs.size(), 0.0));
    std::vector<double> weights(roots.size(), 0.0), g;
    std::vector<std::uint8_t> reach(plan.size());
    for (std::size_t i = 0; i < roots.size(); ++i) {
        if (poll) poll();
        // Only what row i's gradient reaches (as autograd.grad of it alone would).
        std::fill(reach.begin(), reach.end(), 0);
        if (plan.outputs[i] == none) continue;  // a leaf that is no input: a zero row
        reach[plan.outputs[i]] = 1;
        for (std::size_t k = plan.size(); k-- > 0;) {
            if (!reach[k]) continue;
            for (std::uint32_t e = plan.begin[k]; e < plan.begin[k + 1]; ++e)
                if (plan.operand[e] != none) reach[plan.operand[e]] = 1;
        }
        weights[i] = 1.0;
        numeric_sweep(plan, weights, g, &reach, poll);
        weights[i] = 0.0;
        for (std::size_t j = 0; j < inputs.size(); ++j)
            if (plan.inputs[j] != none) rows[i][j] = g[plan.inputs[j]];
    }
    return rows;
}

}  // namespace micrograd
