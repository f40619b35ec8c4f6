#include "common/shutdown_signals.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>

namespace genailab {
namespace {

TEST(ShutdownSignalsTest, ABlockedSignalReachesTheWaitingThread) {
  const sigset_t signals = BlockShutdownSignals();
  std::atomic<int> received{0};
  std::thread waiter = OnShutdownSignal(signals, [&received](int signal_number) { received = signal_number; });
  // The signal is blocked everywhere, so it stays pending until sigwait takes it: no handler runs and
  // the process is not terminated.
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  waiter.join();
  EXPECT_EQ(received.load(), SIGTERM);
}

}  // namespace
}  // namespace genailab
