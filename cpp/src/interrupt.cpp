#include "micrograd/interrupt.hpp"

#include <atomic>

namespace micrograd {
namespace {
std::atomic<InterruptPoll> installed{nullptr};  // read by calls running in any thread
}  // namespace

InterruptPoll set_interrupt_poll(InterruptPoll poll) noexcept { return installed.exchange(poll); }

void poll_interrupt() {
    const InterruptPoll poll = installed.load(std::memory_order_relaxed);
    if (poll && poll()) throw Interrupted();
}

}  // namespace micrograd
