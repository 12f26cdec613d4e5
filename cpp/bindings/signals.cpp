// The core's interrupt poll (micrograd/interrupt.hpp), answered from the
// SIGINT that Python's C-level handler noted (signals.hpp says why no handler
// runs inside the poll).
#include "signals.hpp"

#include <pybind11/pybind11.h>

#include <chrono>

namespace py = pybind11;

namespace micrograd::python {
namespace {

unsigned long main_thread = 0;  // Python takes signals in its main thread only

// How often a call that let other threads run (Graph.map's kernel) takes the
// GIL back to look: each time may wait for another thread to give it up (up to
// the switch interval, 5 ms), and Ctrl-C must be answered within 0.5 s.
constexpr std::chrono::milliseconds released_poll_interval{20};

bool sigint_pending() {
    if (interruptible_depth == 0 || PyThread_get_thread_ident() != main_thread) return false;
    if (PyGILState_Check()) return PyOS_InterruptOccurred() != 0;  // takes the SIGINT, if one came
    static std::chrono::steady_clock::time_point last;             // only the main thread comes here
    const auto now = std::chrono::steady_clock::now();
    if (now - last < released_poll_interval) return false;
    last = now;
    py::gil_scoped_acquire gil;
    return PyOS_InterruptOccurred() != 0;
}

}  // namespace

void install_signal_poll() {
    main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    set_interrupt_poll(sigint_pending);
}

bool run_signal_handlers() {
    PyErr_SetInterrupt();  // the SIGINT the poll took, for Python's handler
    return PyErr_CheckSignals() != 0;
}

}  // namespace micrograd::python
