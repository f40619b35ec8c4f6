#include "models/kl_schedule.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

TEST(KlScheduleTest, LinearRampsToBetaAndHolds) {
  const KlSchedule schedule{.kind = "linear", .beta = 2.0, .warmup_epochs = 4.0};
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 3.0), 1.5);
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 4.0), 2.0);
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 40.0), 2.0);
  EXPECT_DOUBLE_EQ(KlWeight({.kind = "linear", .beta = 2.0, .warmup_epochs = 0.0}, 0.0), 2.0);
}

TEST(KlScheduleTest, CyclicalRestartsEveryCycle) {
  const KlSchedule schedule{.kind = "cyclical", .beta = 1.0, .cycle_epochs = 4.0, .ramp_fraction = 0.5};
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 1.0), 0.5);  // halfway up the ramp (2 epochs long)
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 2.0), 1.0);
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 3.5), 1.0);  // holding
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 4.0), 0.0);  // next cycle
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 5.0), 0.5);
}

TEST(KlScheduleTest, SigmoidIsHalfAtMidpointAndMonotone) {
  const KlSchedule schedule{.kind = "sigmoid", .beta = 4.0, .warmup_epochs = 10.0, .steepness = 10.0};
  EXPECT_DOUBLE_EQ(KlWeight(schedule, 5.0), 2.0);
  EXPECT_NEAR(KlWeight(schedule, 0.0), 4.0 / (1.0 + std::exp(5.0)), 1e-12);
  EXPECT_NEAR(KlWeight(schedule, 10.0), 4.0 / (1.0 + std::exp(-5.0)), 1e-12);
  double previous = -1.0;
  for (double t = 0.0; t <= 20.0; t += 0.25) {
    const double weight = KlWeight(schedule, t);
    EXPECT_GT(weight, previous) << t;
    EXPECT_LT(weight, 4.0) << t;
    previous = weight;
  }
}

TEST(KlScheduleTest, ConstantIsBeta) { EXPECT_DOUBLE_EQ(KlWeight({.kind = "constant", .beta = 0.3}, 0.0), 0.3); }

TEST(KlScheduleTest, ValidationNamesTheField) {
  EXPECT_THAT(ValidateKlSchedule({.kind = "cosine"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kl_schedule: must be")));
  EXPECT_THAT(ValidateKlSchedule({.kind = "linear", .beta = -1.0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beta: must be >= 0")));
  EXPECT_THAT(ValidateKlSchedule({.kind = "cyclical", .cycle_epochs = 0.0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kl_cycle_epochs")));
  EXPECT_THAT(ValidateKlSchedule({.kind = "cyclical", .ramp_fraction = 1.5}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kl_ramp_fraction")));
  EXPECT_THAT(ValidateKlSchedule({.kind = "sigmoid", .warmup_epochs = 0.0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kl_warmup_epochs: must be > 0")));
  EXPECT_TRUE(ValidateKlSchedule({.kind = "sigmoid"}).ok());
}

}  // namespace
}  // namespace genailab
