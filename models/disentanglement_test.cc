#include "models/disentanglement.h"

#include <cmath>
#include <random>

#include "data/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kCells = 2000;

// Two independent factors, each uniform over {0, 1, 2, 3, 4}.
DenseMatrix Factors(uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::uniform_int_distribution<int> value(0, 4);
  DenseMatrix factors(kCells, 2);
  for (int64_t i = 0; i < kCells; ++i) {
    factors.at(i, 0) = static_cast<float>(value(generator));
    factors.at(i, 1) = static_cast<float>(value(generator));
  }
  return factors;
}

// latents = (v0, v1, pure noise) + small noise: each factor in exactly one dimension.
DenseMatrix DisentangledLatents(const DenseMatrix& factors, uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::normal_distribution<float> unit(0.0f, 1.0f);
  DenseMatrix latents(kCells, 3);
  for (int64_t i = 0; i < kCells; ++i) {
    latents.at(i, 0) = factors.at(i, 0) + noise(generator);
    latents.at(i, 1) = factors.at(i, 1) + noise(generator);
    latents.at(i, 2) = unit(generator);
  }
  return latents;
}

// The same latents rotated by 45 degrees in the factor plane: every dimension mixes both factors.
DenseMatrix RotatedLatents(const DenseMatrix& latents) {
  DenseMatrix rotated = latents;
  const float c = std::sqrt(0.5f);
  for (int64_t i = 0; i < latents.rows; ++i) {
    rotated.at(i, 0) = c * (latents.at(i, 0) + latents.at(i, 1));
    rotated.at(i, 1) = c * (latents.at(i, 0) - latents.at(i, 1));
  }
  return rotated;
}

TEST(MutualInformationGapTest, DisentangledScoresNearOneRotatedNearZero) {
  const DenseMatrix factors = Factors(1);
  const DenseMatrix latents = DisentangledLatents(factors, 2);
  absl::StatusOr<double> disentangled = MutualInformationGap(latents, factors);
  absl::StatusOr<double> rotated = MutualInformationGap(RotatedLatents(latents), factors);
  ASSERT_THAT(disentangled, IsOk());
  ASSERT_THAT(rotated, IsOk());
  EXPECT_GT(*disentangled, 0.95);
  EXPECT_LT(*rotated, 0.2);
}

TEST(MutualInformationGapTest, PermutingLatentDimensionsChangesNothing) {
  const DenseMatrix factors = Factors(1);
  const DenseMatrix latents = DisentangledLatents(factors, 2);
  DenseMatrix permuted = latents;
  for (int64_t i = 0; i < kCells; ++i) {
    permuted.at(i, 0) = latents.at(i, 2);
    permuted.at(i, 2) = latents.at(i, 0);
  }
  EXPECT_NEAR(*MutualInformationGap(permuted, factors), *MutualInformationGap(latents, factors), 1e-12);
}

TEST(MutualInformationGapTest, RejectsBadInput) {
  EXPECT_THAT(MutualInformationGap(DenseMatrix(10, 1), DenseMatrix(10, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 2 dimensions")));
  EXPECT_THAT(MutualInformationGap(DenseMatrix(10, 2), DenseMatrix(9, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("factors has 9")));
  EXPECT_THAT(MutualInformationGap(DenseMatrix(10, 2), DenseMatrix(10, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("every factor is constant")));
}

TEST(DciTest, DisentangledScoresNearOneRotatedClearlyLower) {
  const DenseMatrix factors = Factors(3);
  const DenseMatrix latents = DisentangledLatents(factors, 4);
  absl::StatusOr<DciScores> disentangled = ComputeDci(latents, factors);
  absl::StatusOr<DciScores> rotated = ComputeDci(RotatedLatents(latents), factors);
  ASSERT_THAT(disentangled, IsOk());
  ASSERT_THAT(rotated, IsOk());
  EXPECT_GT(disentangled->disentanglement, 0.95);
  EXPECT_GT(disentangled->completeness, 0.9);
  EXPECT_GT(disentangled->informativeness, 0.99);
  // Rotation loses no information but spreads each factor over two dimensions equally: entropy 1 bit of
  // a base-2 (factors) / base-3 (dimensions) entropy.
  EXPECT_LT(rotated->disentanglement, 0.05);
  EXPECT_LT(rotated->completeness, 0.45);
  EXPECT_GT(rotated->informativeness, 0.99);
  EXPECT_EQ(disentangled->importance.rows, 3);
  EXPECT_EQ(disentangled->importance.cols, 2);
  EXPECT_LT(disentangled->importance.at(2, 0), 0.01);  // the noise dimension carries nothing
}

TEST(DciTest, RejectsBadInput) {
  EXPECT_THAT(ComputeDci(DenseMatrix(10, 2), DenseMatrix(10, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 2 factors")));
  const DenseMatrix factors = Factors(3);
  EXPECT_THAT(ComputeDci(DisentangledLatents(factors, 4), factors, -1.0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ridge: must be >= 0")));
  DenseMatrix constant = factors;
  for (int64_t i = 0; i < kCells; ++i) constant.at(i, 1) = 2.0f;
  EXPECT_THAT(ComputeDci(DisentangledLatents(factors, 4), constant),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("column 1 is constant")));
}

}  // namespace
}  // namespace genailab
