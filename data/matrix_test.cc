#include "data/matrix.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

DenseMatrix Make(int64_t rows, int64_t cols, std::vector<float> values) {
  DenseMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.values = std::move(values);
  return m;
}

TEST(DenseMatrixTest, ValidateAcceptsConsistentShape) {
  EXPECT_THAT(Make(2, 3, {1, 2, 3, 4, 5, 6}).Validate(), IsOk());
  EXPECT_THAT(DenseMatrix(0, 5).Validate(), IsOk());
}

TEST(DenseMatrixTest, ValidateRejectsNegativeShapeNamingField) {
  EXPECT_THAT(Make(-1, 3, {}).Validate("cells"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells: negative shape")));
}

TEST(DenseMatrixTest, ValidateRejectsValueCountMismatch) {
  EXPECT_THAT(Make(2, 2, {1, 2, 3}).Validate("latent"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("latent: has 3 values")));
}

TEST(DenseMatrixTest, CheckFiniteNamesRowAndColumn) {
  DenseMatrix m(2, 3);
  m.at(1, 2) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(m.CheckFinite("cells"), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("cells: non-finite value nan at row 1, column 2")));
  m.at(1, 2) = 0;
  m.at(0, 1) = std::numeric_limits<float>::infinity();
  EXPECT_THAT(m.CheckFinite(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row 0, column 1")));
  m.at(0, 1) = 1;
  EXPECT_THAT(m.CheckFinite(), IsOk());
}

TEST(DenseMatrixTest, CheckFiniteFindsNonFiniteValuesInLongRows) {
  // Long enough for the blocked scan: extremes that are finite pass, any NaN/Inf anywhere fails.
  DenseMatrix m(3, 100);
  for (size_t i = 0; i < m.values.size(); ++i) m.values[i] = static_cast<float>(i) - 150.0f;
  m.at(0, 7) = std::numeric_limits<float>::max();
  m.at(1, 8) = -std::numeric_limits<float>::max();
  m.at(2, 9) = std::numeric_limits<float>::denorm_min();
  EXPECT_THAT(m.CheckFinite(), IsOk());
  for (const auto& [r, c] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {1, 30}, {2, 63}, {2, 99}}) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      const float saved = m.at(r, c);
      m.at(r, c) = bad;
      EXPECT_THAT(m.CheckFinite("x"), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr(absl::StrCat("at row ", r, ", column ", c))));
      m.at(r, c) = saved;
    }
  }
}

TEST(DenseMatrixTest, SelectRowsKeepsOrderAndRepeats) {
  const DenseMatrix m = Make(3, 2, {1, 2, 3, 4, 5, 6});
  const DenseMatrix s = m.SelectRows({2, 0, 2});
  EXPECT_EQ(s.rows, 3);
  EXPECT_EQ(s.cols, 2);
  EXPECT_THAT(s.values, ElementsAre(5, 6, 1, 2, 5, 6));
}

TEST(CsrMatrixTest, FromDenseAndBackRoundTrips) {
  const DenseMatrix dense = Make(3, 3, {0, 1, 0, 0, 0, 0, 2, 0, 3});
  const CsrMatrix csr = CsrMatrix::FromDense(dense);
  EXPECT_THAT(csr.indptr, ElementsAre(0, 1, 1, 3));
  EXPECT_THAT(csr.indices, ElementsAre(1, 0, 2));
  EXPECT_THAT(csr.data, ElementsAre(1, 2, 3));
  absl::StatusOr<DenseMatrix> back = csr.ToDense();
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->values, dense.values);
}

CsrMatrix SmallCsr() {
  CsrMatrix csr;
  csr.rows = 2;
  csr.cols = 3;
  csr.data = {1, 2};
  csr.indices = {0, 2};
  csr.indptr = {0, 1, 2};
  return csr;
}

TEST(CsrMatrixTest, ValidateRejectsWrongIndptrLength) {
  CsrMatrix csr = SmallCsr();
  csr.indptr = {0, 2};
  EXPECT_THAT(csr.Validate("cells"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells.indptr: has 2 entries")));
}

TEST(CsrMatrixTest, ValidateRejectsDecreasingIndptr) {
  CsrMatrix csr = SmallCsr();
  csr.rows = 3;
  csr.indptr = {0, 2, 1, 2};
  EXPECT_THAT(csr.Validate("cells"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("decreases at row 1")));
}

TEST(CsrMatrixTest, ValidateRejectsIndptrNotMatchingData) {
  CsrMatrix csr = SmallCsr();
  csr.indptr = {0, 1, 1};
  EXPECT_THAT(csr.Validate("m"), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("last entry is 1, expected data size 2")));
}

TEST(CsrMatrixTest, ValidateRejectsIndicesDataMismatch) {
  CsrMatrix csr = SmallCsr();
  csr.indices = {0};
  EXPECT_THAT(csr.Validate("m"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("m.indices")));
}

TEST(CsrMatrixTest, ToDenseRejectsColumnOutOfRange) {
  CsrMatrix csr = SmallCsr();
  csr.indices = {0, 3};
  EXPECT_THAT(csr.ToDense("cells"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("column 3 out of range [0, 3) at row 1")));
}

TEST(CsrMatrixTest, ValidateRejectsNegativeShape) {
  CsrMatrix csr;
  csr.rows = -2;
  EXPECT_THAT(csr.Validate("m"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("negative shape")));
}

}  // namespace
}  // namespace genailab
