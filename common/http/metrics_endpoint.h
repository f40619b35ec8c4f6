// MetricsEndpoint: a minimal HTTP/1.0 server answering `GET /metrics` with the Prometheus text format
// of one registry (404 for other paths, 405 for other methods).
//
// Why not prometheus::Exposer: Debian's civetweb 1.15 starts its threads with a fixed 100 KiB stack,
// and in a process that links LibTorch and OpenBLAS the static TLS alone exceeds that, so
// pthread_create fails with EINVAL and the Exposer throws ("null context when constructing
// CivetServer"). This endpoint uses one std::thread with the default stack.
//
// Connections are served one at a time (scrapes are rare and small), each with a 5 s I/O timeout.
// Ownership: shares the registry. Thread-safety: port() is safe from any thread; the destructor stops
// and joins the serving thread.
#ifndef GENAILAB_COMMON_HTTP_METRICS_ENDPOINT_H_
#define GENAILAB_COMMON_HTTP_METRICS_ENDPOINT_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace genailab {

class MetricsEndpoint {
 public:
  // Binds `address` ("host:port"; IPv6 hosts in brackets; port 0 picks a free port) and starts
  // serving. INVALID_ARGUMENT for a malformed address or null registry; UNAVAILABLE if it cannot bind.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry);

  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // The bound port.
  int port() const { return port_; }

 private:
  MetricsEndpoint(int listen_fd, int wake_read_fd, int wake_write_fd, int port,
                  std::shared_ptr<prometheus::Registry> registry);

  void Serve();
  void HandleConnection(int fd) const;

  const int listen_fd_;
  const int wake_read_fd_;
  const int wake_write_fd_;
  const int port_;
  const std::shared_ptr<prometheus::Registry> registry_;
  std::thread thread_;
};

}  // namespace genailab

#endif  // GENAILAB_COMMON_HTTP_METRICS_ENDPOINT_H_
