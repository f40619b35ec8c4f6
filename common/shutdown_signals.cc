#include "common/shutdown_signals.h"

#include <pthread.h>

#include <utility>

namespace genailab {

sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

std::thread OnShutdownSignal(const sigset_t& signals, std::function<void(int)> on_signal) {
  return std::thread([signals, on_signal = std::move(on_signal)] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    on_signal(signal_number);
  });
}

}  // namespace genailab
