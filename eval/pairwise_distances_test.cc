#include "eval/pairwise_distances.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "eval/test_matrices.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SquaredDistancesTest, MatchesHandComputedValues) {
  const DenseMatrix a = MatrixOf({{0, 0}, {1, 1}});
  const DenseMatrix b = MatrixOf({{3, 4}});
  absl::StatusOr<std::vector<double>> distances = SquaredDistances(a, b);
  ASSERT_THAT(distances, IsOk());
  EXPECT_THAT(*distances, ElementsAre(25.0, 13.0));
}

TEST(SquaredDistancesTest, RejectsDifferentColumnCounts) {
  EXPECT_THAT(SquaredDistances(MatrixOf({{0, 0}}), MatrixOf({{0}}), "real, generated"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("real, generated: column counts differ")));
}

TEST(SubsampleRowsTest, KeepsSmallMatricesAndSubsamplesLargeOnesDeterministically) {
  DenseMatrix matrix(10, 1);
  for (int i = 0; i < 10; ++i) matrix.at(i, 0) = static_cast<float>(i);
  EXPECT_EQ(SubsampleRows(matrix, 20, 1).rows, 10);
  EXPECT_EQ(SubsampleRows(matrix, 0, 1).rows, 10);
  const DenseMatrix subset = SubsampleRows(matrix, 4, 7);
  ASSERT_EQ(subset.rows, 4);
  EXPECT_EQ(subset.values, SubsampleRows(matrix, 4, 7).values);
  for (int i = 1; i < 4; ++i) EXPECT_LT(subset.at(i - 1, 0), subset.at(i, 0)) << "original order kept";
}

}  // namespace
}  // namespace genailab
