// SIGINT/SIGTERM handling for the project's daemons without signal handlers: main() blocks both signals
// before any thread starts (threads inherit the mask), and one thread waits for them with sigwait and
// runs the shutdown as ordinary code.
#ifndef GENAILAB_COMMON_SHUTDOWN_SIGNALS_H_
#define GENAILAB_COMMON_SHUTDOWN_SIGNALS_H_

#include <signal.h>

#include <functional>
#include <thread>

namespace genailab {

// Blocks SIGINT and SIGTERM in the calling thread and returns that set. Call first thing in main().
sigset_t BlockShutdownSignals();

// Starts a thread that waits for one of `signals` (already blocked) and calls on_signal(signal_number).
// The caller joins it after the shutdown that on_signal starts has completed.
std::thread OnShutdownSignal(const sigset_t& signals, std::function<void(int)> on_signal);

}  // namespace genailab

#endif  // GENAILAB_COMMON_SHUTDOWN_SIGNALS_H_
