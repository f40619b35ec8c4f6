#include "data/preprocessing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::Pointwise;

DenseMatrix Counts() {
  DenseMatrix x(3, 3);
  x.values = {1, 3, 0,   // sum 4
              0, 0, 0,   // empty cell
              2, 2, 6};  // sum 10
  return x;
}

TEST(PreprocessingTest, RowSums) { EXPECT_THAT(RowSums(Counts()), ElementsAre(4, 0, 10)); }

TEST(PreprocessingTest, NormalizeTotalScalesRowsAndKeepsEmptyRowsZero) {
  DenseMatrix x = Counts();
  NormalizeTotal(&x, 1e4);
  EXPECT_THAT(x.values,
              Pointwise(FloatNear(1e-2f), std::vector<float>{2500, 7500, 0, 0, 0, 0, 2000, 2000, 6000}));
  EXPECT_THAT(RowSums(x), Pointwise(FloatNear(1e-2f), std::vector<float>{1e4, 0, 1e4}));
}

// Expected values from numpy, following scanpy's definition: log1p(x / row_sum * target_sum).
TEST(PreprocessingTest, NormalizeThenLog1pMatchesScanpy) {
  DenseMatrix x = Counts();
  NormalizeTotal(&x, 10);
  Log1p(&x);
  EXPECT_THAT(x.values, Pointwise(FloatNear(1e-5f), std::vector<float>{1.2527630f, 2.1400661f, 0, 0, 0, 0,
                                                                       1.0986123f, 1.0986123f, 1.9459101f}));
}

}  // namespace
}  // namespace genailab
