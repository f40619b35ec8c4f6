#include "data/preprocessing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
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
TEST(PreprocessingTest, Log1pIsStdLog1pOnEveryValue) {
  // Zeros, signed zeros, repeats (the memo's hits), many distinct values (its collisions), tiny and huge.
  DenseMatrix x(40, 50);
  for (int64_t i = 0; i < x.rows; ++i) {
    for (int64_t j = 0; j < x.cols; ++j) {
      const int64_t k = i * x.cols + j;
      x.at(i, j) = k % 3 == 0 ? 0.0f : (k % 7 == 0 ? static_cast<float>(k % 5) : 0.37f * static_cast<float>(k));
    }
  }
  x.at(0, 1) = -0.0f;
  x.at(0, 2) = 1e-30f;
  x.at(0, 4) = 3e38f;
  const DenseMatrix original = x;
  Log1p(&x);
  for (size_t i = 0; i < x.values.size(); ++i) {
    const float expected = std::log1p(original.values[i]);
    EXPECT_EQ(std::memcmp(&x.values[i], &expected, sizeof(float)), 0) << i << ": " << original.values[i];
  }
}

TEST(PreprocessingTest, NormalizeThenLog1pMatchesScanpy) {
  DenseMatrix x = Counts();
  NormalizeTotal(&x, 10);
  Log1p(&x);
  EXPECT_THAT(x.values, Pointwise(FloatNear(1e-5f), std::vector<float>{1.2527630f, 2.1400661f, 0, 0, 0, 0,
                                                                       1.0986123f, 1.0986123f, 1.9459101f}));
}

// Rows 0-9 mix integer counts (some of 64 and more), non-integers, signed zeros and negative values, and
// include a row summing to 0 and a row of zeros; rows 10-29 hold small integer counts only (the table
// shortcut), one of them with a count of 63 and one with a -0.0 (which must keep its sign).
DenseMatrix MixedRows() {
  DenseMatrix x(30, 70);
  for (int64_t i = 0; i < x.rows; ++i) {
    for (int64_t j = 0; j < x.cols; ++j) {
      const int64_t k = i * x.cols + j;
      x.at(i, j) = k % 4 == 0 ? 0.0f
                   : k % 11 == 0 ? 0.3f * static_cast<float>(k % 13)
                   : k % 17 == 0 ? static_cast<float>(100 + k % 300)
                                 : static_cast<float>(k % 9);
    }
  }
  x.at(0, 1) = -0.0f;
  x.at(0, 2) = 63.0f;
  x.at(0, 3) = 64.0f;
  for (int64_t j = 0; j < x.cols; ++j) x.at(1, j) = 0.0f;
  for (int64_t j = 0; j < x.cols; ++j) x.at(2, j) = j == 0 ? 5.0f : (j == 1 ? -5.0f : 0.0f);
  x.at(3, 5) = -2.0f;
  for (int64_t i = 10; i < x.rows; ++i) {
    for (int64_t j = 0; j < x.cols; ++j) x.at(i, j) = static_cast<float>((i * x.cols + j) % 4 == 0 ? 0 : (i + j) % 9);
  }
  x.at(10, 3) = 63.0f;
  x.at(11, 4) = -0.0f;
  return x;
}

TEST(PreprocessingTest, FusedNormalizeLog1pIsBitIdenticalToTheTwoSteps) {
  const DenseMatrix x = MixedRows();
  for (const bool given_sums : {false, true}) {
    DenseMatrix two_steps = x;
    NormalizeTotal(&two_steps, 1e4);
    Log1p(&two_steps);
    DenseMatrix fused = x;
    const std::vector<float> sums = RowSums(x);
    NormalizeTotalLog1p(&fused, 1e4, given_sums ? &sums : nullptr);
    ASSERT_EQ(fused.values.size(), two_steps.values.size());
    for (size_t i = 0; i < fused.values.size(); ++i) {
      EXPECT_EQ(std::memcmp(&fused.values[i], &two_steps.values[i], sizeof(float)), 0)
          << i << ": " << x.values[i] << " -> " << fused.values[i] << " vs " << two_steps.values[i];
    }
  }
}

TEST(PreprocessingTest, NormalizeTotalLog1pFromIsBitIdenticalAndLeavesTheSourceAlone) {
  const DenseMatrix x = MixedRows();
  const DenseMatrix source = x;
  for (const bool given_sums : {false, true}) {
    DenseMatrix in_place = x;
    const std::vector<float> sums = RowSums(x.values.data(), x.rows, x.cols);
    EXPECT_EQ(sums, RowSums(x));
    NormalizeTotalLog1p(&in_place, 1e4, given_sums ? &sums : nullptr);
    absl::StatusOr<DenseMatrix> from =
        NormalizeTotalLog1pFrom(x.values.data(), x.rows, x.cols, 1e4, given_sums ? &sums : nullptr, "cells");
    ASSERT_TRUE(from.ok()) << from.status();
    EXPECT_EQ(from->rows, x.rows);
    EXPECT_EQ(from->cols, x.cols);
    ASSERT_EQ(from->values.size(), in_place.values.size());
    EXPECT_EQ(std::memcmp(from->values.data(), in_place.values.data(), in_place.values.size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(x.values.data(), source.values.data(), x.values.size() * sizeof(float)), 0);
  }
}

TEST(PreprocessingTest, NormalizeTotalLog1pFromRejectsNonFiniteValuesAsCheckFiniteDoes) {
  // A NaN or Inf among small counts (the table path) and among other values, in a later row.
  for (const float bad :
       {std::nanf(""), std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
    for (const int64_t row : {int64_t{4}, int64_t{20}}) {
      DenseMatrix x = MixedRows();
      x.at(row, 7) = bad;
      const absl::Status expected = x.CheckFinite("cells");
      ASSERT_FALSE(expected.ok());
      const absl::StatusOr<DenseMatrix> from =
          NormalizeTotalLog1pFrom(x.values.data(), x.rows, x.cols, 1e4, nullptr, "cells");
      EXPECT_EQ(from.status(), expected) << bad << " in row " << row;
      EXPECT_THAT(std::string(from.status().message()), HasSubstr(absl::StrCat("at row ", row, ", column 7")));
    }
  }
}

TEST(PreprocessingTest, NormalizeTotalLog1pFromTakesNoRows) {
  const absl::StatusOr<DenseMatrix> from = NormalizeTotalLog1pFrom(nullptr, 0, 5, 1e4, nullptr, "cells");
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(from->rows, 0);
  EXPECT_EQ(from->cols, 5);
  EXPECT_TRUE(from->values.empty());
}

}  // namespace
}  // namespace genailab
