#include "common/http/metrics_endpoint.h"

#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/http/http_get.h"
#include "data/status_matchers.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

TEST(MetricsEndpointTest, ServesTheRegistryOnMetricsOnly) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("test_things_total").Help("Things.").Register(*registry).Add({}).Increment(3);
  auto endpoint = MetricsEndpoint::Start("127.0.0.1:0", registry);
  ASSERT_THAT(endpoint, IsOk());
  ASSERT_GT((*endpoint)->port(), 0);

  auto metrics = HttpGet((*endpoint)->port(), "/metrics");
  ASSERT_THAT(metrics, IsOk());
  EXPECT_THAT(*metrics, HasSubstr("HTTP/1.0 200 OK"));
  EXPECT_THAT(*metrics, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(*metrics, HasSubstr("test_things_total 3"));

  auto other = HttpGet((*endpoint)->port(), "/other");
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(*other, HasSubstr("404 Not Found"));
}

TEST(MetricsEndpointTest, RejectsBadAddressesAndTakenPorts) {
  auto registry = std::make_shared<prometheus::Registry>();
  EXPECT_THAT(MetricsEndpoint::Start("127.0.0.1", registry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("host:port")));
  EXPECT_THAT(MetricsEndpoint::Start("127.0.0.1:99999", registry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad port")));
  EXPECT_THAT(MetricsEndpoint::Start("127.0.0.1:0", nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("registry")));
  auto first = MetricsEndpoint::Start("127.0.0.1:0", registry);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(MetricsEndpoint::Start(absl::StrCat("127.0.0.1:", (*first)->port()), registry),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot listen")));
}

}  // namespace
}  // namespace genailab
