// micrograd_cpp.Graph (micrograd::Graph): a built graph replayed on its own
// Values, or over a batch of rows with the GIL released.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#if !defined(_WIN32)
#include <pthread.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "casters.hpp"
#include "init_guard.hpp"
#include "initialised.hpp"
#include "iterables.hpp"
#include "micrograd/graph_replay.hpp"
#include "register.hpp"
#include "signals.hpp"
#include "value_type.hpp"

namespace py = pybind11;
using micrograd::MapOptions;
using micrograd::Node;
using micrograd::Reduction;
using micrograd::Value;

namespace {

using micrograd::python::Expect;
using micrograd::python::Holds;
using micrograd::python::NodeList;
using micrograd::python::Reading;

std::vector<Node*> nodes_of(const NodeList& nodes) { return {nodes.data(), nodes.data() + nodes.size()}; }

// Rows whose outputs could never be held: count * outputs values past what a list can hold.
bool too_many_rows(std::size_t count, std::size_t outputs) {
    return count > std::size_t(PY_SSIZE_T_MAX) / sizeof(double) / outputs;
}

// A list or tuple of exactly `width` floats and ints, read in place: converting
// those runs no Python code, so the row cannot change while it is read. Returns
// false (and adds nothing) for any other row, left to the general reader.
bool read_row_in_place(PyObject* row, std::size_t width, std::vector<double>& out) {
    if (!PyList_CheckExact(row) && !PyTuple_CheckExact(row)) return false;
    if (std::size_t(PySequence_Fast_GET_SIZE(row)) != width) return false;  // the general reader says why
    PyObject** items = PySequence_Fast_ITEMS(row);
    const std::size_t start = out.size();
    for (std::size_t k = 0; k < width; ++k) {
        PyObject* item = items[k];
        double x;
        if (PyFloat_CheckExact(item)) {
            x = PyFloat_AS_DOUBLE(item);
        } else if (PyLong_CheckExact(item)) {
            x = PyLong_AsDouble(item);
            if (x == -1.0 && PyErr_Occurred()) {  // too large: the general reader raises it again
                PyErr_Clear();
                out.resize(start);
                return false;
            }
        } else {
            out.resize(start);
            return false;
        }
        out.push_back(x);
    }
    return true;
}

// One row of numbers, through the one reader, as argument 1 of reading (rows itself is argument 0).
void read_row(Reading& reading, PyObject* row, std::size_t index, std::size_t width, std::vector<double>& out) {
    Expect expect{"rows", Holds::numbers, true};
    expect.subscript = Py_ssize_t(index);
    if (!reading.open(1, row, expect)) throw py::error_already_set();
    std::size_t k = 0;
    for (;; ++k) {
        PyObject* got;
        const int found_item = reading.next(1, &got);
        if (found_item < 0) throw py::error_already_set();
        if (found_item == 0) break;
        const auto item = py::reinterpret_steal<py::object>(got);
        double x;
        const int found = micrograd::python::to_real(item.ptr(), &x);
        if (found < 0) throw py::error_already_set();
        if (found == 0) {
            micrograd::python::refuse_item(item.ptr(), expect, Py_ssize_t(k));
            throw py::error_already_set();
        }
        if (k == width) {  // one past the width is enough to know (and a row may never end)
            ++k;
            break;
        }
        out.push_back(x);
    }
    if (k != width) {
        throw py::value_error("rows[" + std::to_string(index) + "] has " +
                              (k > width ? "more than " + std::to_string(width) : std::to_string(k)) +
                              " numbers, but the graph has " + std::to_string(width) + " inputs");
    }
}

// rows as a flat row-major array of count x width doubles, converted (and copied) before any work.
std::vector<double> read_rows(const py::handle& rows, std::size_t width, std::size_t outputs, std::size_t& count) {
    std::vector<double> out;
    // A 2-D C-contiguous float64 buffer (a NumPy array): one copy.
    if (PyObject_CheckBuffer(rows.ptr())) {
        Py_buffer view;
        if (PyObject_GetBuffer(rows.ptr(), &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) == 0) {
            const bool float64 = view.format && view.itemsize == 8 &&
                                 (!std::strcmp(view.format, "d") || !std::strcmp(view.format, "<d") ||
                                  !std::strcmp(view.format, "=d") || !std::strcmp(view.format, "@d"));
            if (view.ndim == 2 && float64) {
                const auto n = std::size_t(view.shape[0]), w = std::size_t(view.shape[1]);
                if (w != width) {
                    PyBuffer_Release(&view);
                    throw py::value_error("rows has " + std::to_string(w) + " columns, but the graph has " +
                                          std::to_string(width) + " inputs");
                }
                try {
                    out.assign(static_cast<const double*>(view.buf), static_cast<const double*>(view.buf) + n * w);
                } catch (...) {
                    PyBuffer_Release(&view);
                    throw;
                }
                PyBuffer_Release(&view);
                count = n;
                return out;
            }
            PyBuffer_Release(&view);
        } else {
            PyErr_Clear();  // not C-contiguous, ...: read it as a sequence of rows below
        }
    }
    // Any iterable of iterables of real numbers; one that says it is too long is refused before it is read.
    Reading reading;
    Expect expect{"rows", Holds::rows, true};
    expect.also = "(or a 2-D float64 array)";
    if (!reading.open(0, rows.ptr(), expect)) throw py::error_already_set();
    const Py_ssize_t hint = PyObject_LengthHint(rows.ptr(), 0);
    if (hint < 0) throw py::error_already_set();
    if (too_many_rows(std::size_t(hint), outputs)) throw std::bad_alloc();
    out.reserve(std::min<std::size_t>(std::size_t(hint), 1 << 16) * width);  // a hint, not trusted past that
    count = 0;
    for (;; ++count) {
        if (count % 4096 == 4095 && PyErr_CheckSignals() < 0) throw py::error_already_set();  // Ctrl-C
        PyObject* got;
        const int found = reading.next(0, &got);
        if (found < 0) throw py::error_already_set();
        if (found == 0) break;
        const auto row = py::reinterpret_steal<py::object>(got);
        if (!read_row_in_place(row.ptr(), width, out)) read_row(reading, row.ptr(), count, width, out);
    }
    return out;
}

std::string type_name(PyObject* obj) { return Py_TYPE(obj)->tp_name; }

// Iterables with no order that could match the inputs' (a set's is its hashes', a dict gives its
// keys), and text (its items are characters): refused, as the one reader (iterables.hpp) refuses them.
bool unordered_or_text(PyObject* obj) {
    return PyAnySet_Check(obj) || PyDict_Check(obj) || PyDictKeys_Check(obj) || PyDictValues_Check(obj) ||
           PyDictItems_Check(obj) || PyUnicode_Check(obj) || PyBytes_Check(obj) || PyByteArray_Check(obj);
}

// What forward(inputs) feeds: per input a number, or (sources[k] not null) a
// Value's node; sources is empty when every item is a number.
struct Feed {
    std::vector<double> numbers;
    std::vector<Node*> sources;
    std::vector<py::object> held;  // the items read, alive until the feed is done (their __float__ ran Python)
};

// One item of inputs: a Value (its node) or a real number; false if it is neither.
bool read_feed_item(PyObject* item, std::size_t k, Feed& feed) {
    if (micrograd::python::is_value(item)) {
        if (feed.sources.empty()) feed.sources.assign(feed.numbers.size(), nullptr);
        feed.sources[k] = micrograd::python::node_of(item);
        return true;
    }
    double x;
    const int found = micrograd::python::to_real(item, &x);
    if (found < 0) throw py::error_already_set();
    if (found == 0) {
        throw py::type_error("forward(inputs): inputs must hold real numbers or Values, not " + type_name(item) +
                             " (at index " + std::to_string(k) + ")");
    }
    feed.numbers[k] = x;
    return true;
}

std::string feed_length_error(std::size_t got, bool more, std::size_t width) {
    return "forward(inputs): inputs has " + (more ? "more than " + std::to_string(width) : std::to_string(got)) +
           " items, but the graph has " + std::to_string(width) + " inputs";
}

// inputs as `width` numbers or Values, read whole before anything is fed: a
// 1-D C-contiguous float64 buffer (a NumPy array: one copy), a list or tuple of
// floats, ints and Values (read in place: no Python code runs), or any other
// iterable of real numbers and Values (each item held while the rest is read).
Feed read_feed(const py::handle& inputs, std::size_t width) {
    Feed feed;
    feed.numbers.assign(width, 0.0);
    PyObject* obj = inputs.ptr();
    if (PyObject_CheckBuffer(obj) && !PyBytes_Check(obj) && !PyByteArray_Check(obj)) {
        Py_buffer view;
        if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) == 0) {
            const bool float64 = view.format && view.itemsize == 8 &&
                                 (!std::strcmp(view.format, "d") || !std::strcmp(view.format, "<d") ||
                                  !std::strcmp(view.format, "=d") || !std::strcmp(view.format, "@d"));
            if (view.ndim == 1 && float64) {
                const auto n = std::size_t(view.shape[0]);
                if (n == width) std::memcpy(feed.numbers.data(), view.buf, width * sizeof(double));
                PyBuffer_Release(&view);
                if (n != width) throw py::value_error(feed_length_error(n, false, width));
                return feed;
            }
            PyBuffer_Release(&view);
            if (view.ndim != 1) {
                throw py::value_error(
                    "forward(inputs): inputs must be a 1-D array of float64 (one number per input), not " +
                    std::to_string(view.ndim) + "-D");
            }
        } else {
            PyErr_Clear();  // not C-contiguous, ...: read it as a sequence below
        }
    }
    if (unordered_or_text(obj)) {
        throw py::type_error(
            "forward(inputs): inputs must be a sequence of real numbers or Values (one per "
            "input), not " +
            type_name(inputs.ptr()));
    }
    py::object kept;  // a list as it was when the call began, for the general reader
    if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj)) {  // in place, while no Python code can run
        const std::size_t n = std::size_t(PySequence_Fast_GET_SIZE(obj));
        if (n != width) throw py::value_error(feed_length_error(n, false, width));
        PyObject** items = PySequence_Fast_ITEMS(obj);
        bool whole = true;
        for (std::size_t k = 0; k < n && whole; ++k) {
            PyObject* item = items[k];
            if (PyFloat_CheckExact(item)) {
                feed.numbers[k] = PyFloat_AS_DOUBLE(item);
            } else if (micrograd::python::is_value(item) || PyLong_CheckExact(item)) {
                read_feed_item(item, k, feed);  // an int too large raises OverflowError: no code runs
            } else {
                whole = false;  // its __float__ may run Python code: read the general way, from the start
            }
        }
        if (whole) return feed;
        feed.sources.clear();
        if (PyList_CheckExact(obj)) {
            kept = py::reinterpret_steal<py::object>(PyList_AsTuple(obj));
            if (!kept) throw py::error_already_set();
            obj = kept.ptr();
        }
    }
    PyObject* iterator = PyObject_GetIter(obj);
    if (!iterator) {
        PyErr_Clear();
        throw py::type_error(
            "forward(inputs): inputs must be a sequence of real numbers or Values (one per "
            "input), not " +
            type_name(inputs.ptr()));
    }
    py::object it = py::reinterpret_steal<py::object>(iterator);
    std::size_t k = 0;
    for (;; ++k) {
        py::object item = py::reinterpret_steal<py::object>(PyIter_Next(iterator));
        if (!item) {
            if (PyErr_Occurred()) throw py::error_already_set();
            break;
        }
        if (k == width) throw py::value_error(feed_length_error(k + 1, true, width));  // one past is enough
        read_feed_item(item.ptr(), k, feed);
        feed.held.push_back(std::move(item));
    }
    if (k != width) throw py::value_error(feed_length_error(k, false, width));
    return feed;
}

// Counts the forks this process came from: a Graph marked in use before the
// fork that made this process is not in use here (the thread that used it is
// not in this process).
std::atomic<std::uint64_t> fork_generation{1};

// One user at a time: a second thread gets an error instead of a race.
class Busy {
public:
    Busy(std::atomic<std::uint64_t>& flag, micrograd::Graph& graph) : flag_(flag) {
        const std::uint64_t now = fork_generation.load();
        std::uint64_t held = flag_.load();
        do {
            if (held == now) {
                throw std::runtime_error(
                    "this Graph is in use (by another thread, or by a callback of its own map): use one Graph per "
                    "thread, and do not call a Graph from the __float__ of its own rows");
            }
        } while (!flag_.compare_exchange_weak(held, now));
        if (held != 0) graph.forget_buffers();  // a call was running when this process was forked from its parent
    }
    ~Busy() { flag_ = 0; }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

private:
    std::atomic<std::uint64_t>& flag_;
};

// The outputs of map as Python lists (values_list): made after the kernel ran
// with the GIL released, before any gradient lands.
class PythonCaller final : public micrograd::MapCaller {
public:
    PythonCaller(const std::vector<double>& out, std::size_t count, std::size_t n_out)
        : out_(out), count_(count), n_out_(n_out) {}
    void run_apart(const Work& work) override {
        py::gil_scoped_release unlocked;  // the kernel reads and writes only the Graph's buffers, the rows, out
        work();
    }
    void outputs_ready() override;
    py::list result() { return std::move(result_); }

private:
    const std::vector<double>& out_;
    std::size_t count_, n_out_;
    py::list result_;
};

class Graph {
public:
    Graph(const py::handle& outputs, const py::handle& inputs) {
        Expect outputs_expect{"Graph outputs", Holds::values, true};
        outputs_expect.or_one_value = true;
        const bool one_output = micrograd::python::is_value(outputs.ptr());
        Reading reading;  // both, by the one reader: each node held (or, where no Python code can run, borrowed)
        NodeList outs, ins;
        if ((!one_output && !reading.open(0, outputs.ptr(), outputs_expect)) ||
            (!inputs.is_none() && !reading.open(1, inputs.ptr(), Expect{"Graph inputs", Holds::values, true})) ||
            !(one_output ? outs.append(outputs.ptr(), outputs_expect, 0) : outs.read(reading, 0)))
            throw py::error_already_set();
        if (outs.size() == 0) throw py::value_error("Graph needs at least one output Value");
        if (!inputs.is_none() && !ins.read(reading, 1)) throw py::error_already_set();
        try {
            graph_ = std::make_unique<micrograd::Graph>(nodes_of(outs), nodes_of(ins));
        } catch (const std::invalid_argument& e) {
            throw py::value_error(std::string("Graph: ") + e.what());
        }
    }

    std::size_t size() const { return graph_->size(); }

    double forward(const py::handle& inputs) {
        Busy busy(busy_, *graph_);
        if (!inputs.is_none()) {
            const Feed feed = read_feed(inputs, graph_->input_count());
            try {
                graph_->feed(feed.numbers.data(), feed.sources.empty() ? nullptr : feed.sources.data());
            } catch (const std::invalid_argument& e) {
                throw py::value_error(std::string("forward(inputs): ") + e.what());
            }
        }
        double first = 0.0;
        if (!micrograd::python::run_interruptible([&] { first = graph_->forward(); })) throw py::error_already_set();
        return first;
    }

    void backward() {
        Busy busy(busy_, *graph_);
        if (!micrograd::python::run_interruptible([&] { graph_->backward(); })) throw py::error_already_set();
    }

    py::list map(const py::handle& rows, const MapOptions& options) {
        if (options.backward && !graph_->differentiable()) {
            throw py::value_error(
                "map(backward=True): the first output depends on no leaf that is not an input, so there is no "
                "gradient to give");
        }
        Busy busy(busy_, *graph_);
        std::size_t count = 0;
        const std::vector<double> table = read_rows(rows, graph_->input_count(), graph_->output_count(), count);
        if (options.backward && count == 0) throw py::value_error("map(backward=True) needs at least one row");
        const std::size_t n_out = graph_->output_count();
        if (too_many_rows(count, n_out)) {
            throw std::bad_alloc();  // count * n_out values cannot be held (a zero-width table of 2**62 rows)
        }
        std::vector<double> out(count * n_out);
        PythonCaller caller(out, count, n_out);
        const bool done = micrograd::python::run_interruptible(
            [&] { graph_->map(table.data(), count, out.data(), options, caller); });
        if (!done) throw py::error_already_set();
        return caller.result();
    }

    // The outputs' values as Python lists: a float per row for one output, else a list per row.
    static py::list values_list(const std::vector<double>& out, std::size_t count, std::size_t n_out) {
        auto list = [](std::size_t n) {
            PyObject* made = PyList_New(Py_ssize_t(n));
            if (!made) throw py::error_already_set();  // MemoryError
            return py::reinterpret_steal<py::list>(made);
        };
        auto number = [](double x) {
            PyObject* made = PyFloat_FromDouble(x);
            if (!made) throw py::error_already_set();
            return made;
        };
        py::list result = list(count);
        for (std::size_t r = 0; r < count; ++r) {
            if (n_out == 1) {
                PyList_SET_ITEM(result.ptr(), Py_ssize_t(r), number(out[r]));
                continue;
            }
            py::list row = list(n_out);
            for (std::size_t j = 0; j < n_out; ++j)
                PyList_SET_ITEM(row.ptr(), Py_ssize_t(j), number(out[r * n_out + j]));
            PyList_SET_ITEM(result.ptr(), Py_ssize_t(r), row.release().ptr());
        }
        return result;
    }

    py::tuple values(bool outputs) const {
        const std::size_t n = outputs ? graph_->output_count() : graph_->input_count();
        py::tuple out(n);
        for (std::size_t i = 0; i < n; ++i)
            out[i] = py::cast(Value::share(outputs ? graph_->output(i) : graph_->input(i)));
        return out;
    }

    py::list input_grads() {
        Busy busy(busy_, *graph_);
        std::vector<double> grads(graph_->input_count());
        if (!graph_->input_gradients(grads.data())) {
            throw py::value_error(
                "input_grads(): no backward() has run since the Graph was made or since its last forward(): the "
                "gradients of the inputs' current data are not known");
        }
        return values_list(grads, grads.size(), 1);
    }

    // Safe while another thread runs map: what the capture fixed, and an atomic count of the buffers.
    std::size_t nbytes() const { return graph_->memory_bytes(); }

private:
    std::unique_ptr<micrograd::Graph> graph_;
    std::atomic<std::uint64_t> busy_{0};  // the fork generation of the call using it, or 0
};

void PythonCaller::outputs_ready() { result_ = Graph::values_list(out_, count_, n_out_); }

Reduction reduction_from(const std::string& name) {
    if (name == "sum") return Reduction::sum;
    if (name == "mean") return Reduction::mean;
    throw py::value_error("reduction must be 'sum' or 'mean', not '" + name + "'");
}

// map's threads: None (0: the machine's cores) or a positive integer, an int or anything with
// __index__ (a NumPy integer); a bool is refused, as it is no count, and so is a float.
struct ThreadsName {
    static constexpr auto name = py::detail::const_name("typing.SupportsIndex | None");
};
std::size_t threads_from(const Iterable<ThreadsName>& threads) {
    PyObject* obj = threads.obj.ptr();
    if (obj == Py_None) return 0;
    const auto refuse = [obj] {
        return py::type_error(std::string("threads must be an int or None, not ") + Py_TYPE(obj)->tp_name);
    };
    if (PyBool_Check(obj) || PyFloat_Check(obj)) throw refuse();
    py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(obj));
    if (!index) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw py::error_already_set();  // its __index__ raised
        PyErr_Clear();
        throw refuse();
    }
    const long long n = PyLong_AsLongLong(index.ptr());
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        throw py::value_error("threads must be a positive int or None");
    }
    if (n < 1) throw py::value_error("threads must be a positive int or None, not " + std::to_string(n));
    return std::size_t(std::min<long long>(n, 1024));
}

using Self = Initialised<Graph>;

struct InputsName {
    static constexpr auto name = py::detail::const_name("collections.abc.Iterable[Value] | None");
};

}  // namespace

void register_graph(py::module_& m) {
    micrograd::python::install_signal_poll();  // Ctrl-C for Value.backward and Graph's long calls
#if !defined(_WIN32)
    pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
#endif
    py::class_<Graph> cls(m, "Graph",
                          "A built graph, replayed in C++: forward and backward on its own Values without\n"
                          "rebuilding, or over a batch of rows of input data (map).\n\n"
                          "    g = Graph(loss)                         # a whole built graph\n"
                          "    g.forward(); g.backward()               # replayed: as rebuilt, bit for bit\n"
                          "    g = Graph([loss, score], inputs=[x0, x1, t])  # one sample's graph\n"
                          "    g.map(rows, backward=True, reduction='mean')  # over rows of [x0, x1, t]\n\n"
                          "The graph is frozen as it was built: Python-side decisions taken while building\n"
                          "(an `if v.data > 0`, a max(v.data ...) used as a constant) stay as they were, as\n"
                          "torch.jit.trace records them. Data-dependent ops (relu's mask, tanh) are recomputed.\n"
                          "A Graph keeps its Values alive. Use one Graph from one thread at a time.");
    refuse_pickling(cls, "capture it again from its Values");
    def_init(
        cls,
        // outputs typed `object`: a sum() of Values types as `Value | int`, and is a Value.
        [](const py::handle& outputs, Iterable<InputsName> inputs) {
            return std::make_unique<Graph>(outputs, inputs.obj);
        },
        py::arg("outputs"), py::arg("inputs") = py::none(),
        "outputs: a Value or a sequence of Values (at least one). inputs: leaves of their graph, each\n"
        "once, whose data map() takes from each row (None: no inputs). Both in order: sets and dicts\n"
        "are refused.");
    cls.def(
           "__len__", [](Self g) { return g->size(); }, "The number of captured nodes.")
        .def(
            "forward",
            [](Self g, const py::typing::Optional<py::typing::Iterable<py::typing::Union<Value, py::float_>>>& inputs) {
                return g->forward(inputs);
            },
            py::arg("inputs") = py::none(),
            ">>> import micrograd_cpp as mg\n"
            ">>> x, w = mg.Value(0.0), mg.Value(3.0)\n"
            ">>> g = mg.Graph(w * x * x, inputs=[x])\n"
            ">>> g.forward([2.0])  # x.data = 2.0, then the replay\n"
            "12.0\n"
            ">>> g.backward(); g.input_grads()  # d(w*x*x)/dx of that backward alone\n"
            "[12.0]\n"
            ">>> e = mg.Value(-1.0)  # a row of an embedding table, say\n"
            ">>> g.forward([e])  # x stands for e: reads e.data at each forward ...\n"
            "3.0\n"
            ">>> g.backward(); e.grad  # ... and backward adds x's gradient to e.grad\n"
            "-6.0\n\n"
            "Recomputes the data of every captured Value from its leaves' current data; returns the\n"
            "first output's data. As if the graph were built again, without building it.\n\n"
            "inputs (optional): the graph's inputs for this sample, one item per input, in one call (no\n"
            "Python loop over Values): a sequence of real numbers and Values, or a 1-D float64 array. A\n"
            "number becomes that input's data. A Value (a leaf: a parameter, an embedding row's entry)\n"
            "makes the input stand for it until the next forward(inputs): each forward() copies its\n"
            "data into the input, and each backward() adds the input's gradient to its grad instead of\n"
            "the input's own -- an embedding lookup, gather and scatter; a Value fed to several inputs\n"
            "(a token seen twice) gets the sum, and one that is also a leaf of the graph (tied weights)\n"
            "gets both its own gradient and the inputs'. None: the inputs keep their data and what they\n"
            "stand for. The whole of inputs is read and checked first: a wrong length or a Value made by\n"
            "an op, or one that is an input of this graph, is a ValueError, an item that is neither a\n"
            "real number nor a Value a TypeError, and then no input has changed. Values are read as they\n"
            "are: an input given a parameter's Value is overwritten, as by x.data = ....")
        .def(
            "backward", [](Self g) { g->backward(); },
            "Differentiates the first output, exactly as its Value.backward() does: leaf gradients\n"
            "accumulate (a second call gives exactly twice), interior ones are set. An input fed a Value\n"
            "(forward(inputs)) adds its gradient to that Value's grad, not to its own. input_grads()\n"
            "then gives each input's gradient of this call.")
        .def(
            "input_grads", [](Self g) { return py::typing::List<py::float_>(g->input_grads()); },
            "d(first output)/d(input) for each input, as the last backward() computed it, in one call:\n"
            "a list of floats in the inputs' order, that call's alone (not accumulated, whatever the\n"
            "inputs were fed; 0.0 for an input the first output does not depend on). ValueError if no\n"
            "backward() ran since the Graph was made or since its last forward(): the gradients of the\n"
            "data now in the inputs are not known.")
        .def(
            "map",
            // reduction as a py::str: a std::string parameter would take bytes too (b"sum" != "sum").
            [](Self g, const py::handle& rows, bool backward, const py::str& reduction,
               const Iterable<ThreadsName>& threads) {
                // For the stub: a float per row, or a list of floats per row (several outputs).
                using Rows = py::typing::List<py::typing::Union<py::float_, py::typing::List<py::float_>>>;
                return Rows(
                    g->map(rows, MapOptions{backward, reduction_from(std::string(reduction)), threads_from(threads)}));
            },
            py::arg("rows"), py::arg("backward") = false, py::arg("reduction") = "sum", py::arg("threads") = py::none(),
            ">>> import micrograd_cpp as mg\n"
            ">>> x, w = mg.Value(0.0), mg.Value(3.0)\n"
            ">>> g = mg.Graph(w * x + 1, inputs=[x])\n"
            ">>> g.map([[1.0], [2.0], [-1.0]])  # rows in: each input's number; values out: one per row\n"
            "[4.0, 7.0, -2.0]\n"
            ">>> g.map([[1.0], [2.0]], backward=True)  # also adds d(sum of the rows' outputs)/dw to w.grad\n"
            "[4.0, 7.0]\n"
            ">>> w.grad\n"
            "3.0\n\n"
            "Runs the graph once per row, the inputs taking the row's numbers, in C++ with the GIL\n"
            "released. Returns the outputs' values, as building the graph anew for each row would: a\n"
            "float per row for one output, else a list of floats per row. No Value's data changes.\n\n"
            "rows: a sequence of sequences of real numbers, one per input, or a 2-D C-contiguous float64\n"
            "array (any object with that buffer, such as a NumPy array).\n"
            "backward: also add d(reduction over the rows of the first output)/d(leaf) to the grad of\n"
            "every leaf that is not an input (the parameters, the constants): each row's gradient as a\n"
            "per-row rebuild's backward computes it, the rows summed in another order, within\n"
            "n * eps * sum |row| of their exact sum (the docs' page on Graph says more). Ctrl-C stops it\n"
            "promptly, adding no gradient.\n"
            "reduction: 'sum' or 'mean' (divides by the number of rows).\n"
            "threads: at most this many threads split the rows (None: the machine's cores, and never more\n"
            "than they), where the batch is large enough to pay for them; the values and gradients are the\n"
            "same bits whatever the count.")
        .def_property_readonly(
            "outputs", [](Self g) { return py::typing::Tuple<Value, py::ellipsis>(g->values(true)); },
            "The outputs, a tuple of Values.")
        .def_property_readonly(
            "inputs", [](Self g) { return py::typing::Tuple<Value, py::ellipsis>(g->values(false)); },
            "The inputs, a tuple of Values.")
        .def_property_readonly(
            "nbytes", [](Self g) { return g->nbytes(); },
            "Bytes the Graph holds beside its Values: its plans and buffers (safe to read while another thread\n"
            "runs map).")
        .def("__repr__", [](Self g) {
            const Graph& graph = *g;
            return "Graph(" + std::to_string(graph.size()) + " nodes, " + std::to_string(graph.values(true).size()) +
                   " outputs, " + std::to_string(graph.values(false).size()) + " inputs)";
        });
}
