// Ctrl-C in the core's long calls (micrograd/interrupt.hpp): the poll they ask
// between chunks of work, answered from Python's pending SIGINT.
//
// The poll runs no Python code: a signal handler run inside the core's loops
// could call back into them (a walk inside a walk, the same scratch buffers).
// It takes the SIGINT that Python's C handler noted and stops the call, which
// undoes what it did; then, outside the core, the SIGINT is noted again and
// Python's handler runs (Ctrl-C's raises KeyboardInterrupt).
#pragma once

#include "micrograd/interrupt.hpp"

namespace micrograd::python {

// Installs the poll for every long call of the core (at import).
void install_signal_poll();

// The poll answers only inside run_interruptible (per thread), so that a call
// the binding does not expect to be interrupted never is.
inline thread_local int interruptible_depth = 0;

// With a SIGINT taken by the poll: notes it again and runs Python's handlers.
// Returns true if one raised (its exception is set). Needs the GIL.
bool run_signal_handlers();

// Runs f (which needs the GIL), Ctrl-C answered inside it: if a SIGINT
// interrupts it and Python's handler raises, returns false with that
// exception set; if the handler does not raise, runs f again (the interrupted
// call changed nothing that a new one does not redo).
template <class F>
bool run_interruptible(F&& f) {
    for (;;) {
        try {
            ++interruptible_depth;
            f();
            --interruptible_depth;
            return true;
        } catch (const Interrupted&) {
            --interruptible_depth;
        } catch (...) {
            --interruptible_depth;
            throw;
        }
        if (run_signal_handlers()) return false;
    }
}

}  // namespace micrograd::python
