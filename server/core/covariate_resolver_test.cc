#include "server/core/covariate_resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<CovariateSpec> kSpecs = {{"cell_type", {"A", "B"}}, {"batch", {"b1", "b2", "b3"}}};

TEST(CovariateResolverTest, ResolvesColumnsInManifestOrder) {
  auto codes = ResolveCovariateColumns(kSpecs, {{"batch", {"b3", "b1"}}, {"cell_type", {"B", "A"}}}, 2);
  ASSERT_THAT(codes, IsOk());
  ASSERT_EQ(codes->size(), 2u);
  EXPECT_THAT((*codes)[0], ElementsAre(1, 0));
  EXPECT_THAT((*codes)[1], ElementsAre(2, 0));
}

TEST(CovariateResolverTest, NamesUnknownValueCellAndAllowedValues) {
  EXPECT_THAT(
      ResolveCovariateColumns(kSpecs, {{"cell_type", {"A", "A", "A", "X"}}, {"batch", {"b1", "b1", "b1", "b1"}}},
                              4),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("covariates[cell_type]: unknown value 'X' at cell 3; allowed: A, B")));
}

TEST(CovariateResolverTest, RejectsUnknownMissingAndMisSizedColumns) {
  EXPECT_THAT(ResolveCovariateColumns(kSpecs, {{"cell_type", {"A"}}, {"batch", {"b1"}}, {"donor", {"d"}}}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("covariates[donor]: unknown covariate; model covariates: cell_type, batch")));
  EXPECT_THAT(ResolveCovariateColumns(kSpecs, {{"cell_type", {"A"}}}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("missing required covariate 'batch'")));
  EXPECT_THAT(ResolveCovariateColumns(kSpecs, {{"cell_type", {"A"}}, {"batch", {"b1", "b2"}}}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("covariates[batch]: 2 values for 1 cells")));
}

TEST(CovariateResolverTest, NoCovariatesGiveNoCodes) {
  auto codes = ResolveCovariateColumns({}, {}, 5);
  ASSERT_THAT(codes, IsOk());
  EXPECT_TRUE(codes->empty());
}

TEST(CovariateResolverTest, ResolvesGroupValues) {
  auto codes = ResolveCovariateValues(kSpecs, {{"cell_type", "B"}, {"batch", "b2"}}, "groups[0].covariates");
  ASSERT_THAT(codes, IsOk());
  EXPECT_THAT(*codes, ElementsAre(1, 1));
  EXPECT_THAT(ResolveCovariateValues(kSpecs, {{"cell_type", "C"}, {"batch", "b2"}}, "groups[1].covariates"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("groups[1].covariates[cell_type]: unknown value 'C'; allowed: A, B")));
}

}  // namespace
}  // namespace genailab
