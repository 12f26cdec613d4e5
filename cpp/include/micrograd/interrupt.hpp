// Ctrl-C for the core's long calls: Value::backward's walks, a Graph's replay
// and its map over rows.
//
// The core knows nothing of signals. The program embedding it (the Python
// binding) installs a poll; the long loops call poll_interrupt() between chunks
// of their work (about every millisecond), and when the poll answers true they
// throw Interrupted. An interrupted call adds no gradient to any leaf, as one
// that runs out of memory: what it had done is undone, or was never stored (each
// call says which of its effects it undoes).
#pragma once

#include <exception>

namespace micrograd {

class Interrupted : public std::exception {
public:
    const char* what() const noexcept override { return "interrupted"; }
};

// Returns true to stop the running call. It may throw instead (its own error);
// it is called from the thread running the call, which for Graph::map may be
// one that let other threads run (the binding re-takes the GIL in it).
using InterruptPoll = bool (*)();

// Installs poll (nullptr: never interrupted, the default) for every thread;
// returns the one it replaces.
InterruptPoll set_interrupt_poll(InterruptPoll poll) noexcept;

// Throws Interrupted if the installed poll answers true.
void poll_interrupt();

// How much work a long loop does between two polls: node visits of a walk or
// replay, lane-steps of map (one step over one row).
constexpr unsigned long interrupt_interval = 1ul << 16;

}  // namespace micrograd
