#include "data/matrix_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

DenseMatrix Example() {
  DenseMatrix m(2, 3);
  m.values = {0, 1.5f, 0, 2, 0, -3};
  return m;
}

TEST(MatrixCodecTest, DenseRoundTrip) {
  v1::Matrix proto;
  MatrixToProto(Example(), {"a", "b", "c"}, /*sparse=*/false, &proto);
  EXPECT_TRUE(proto.has_dense());
  EXPECT_THAT(ColumnNames(proto), ElementsAre("a", "b", "c"));
  absl::StatusOr<DenseMatrix> back = MatrixFromProto(proto, "cells");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->rows, 2);
  EXPECT_EQ(back->cols, 3);
  EXPECT_EQ(back->values, Example().values);
}

TEST(MatrixCodecTest, CsrRoundTrip) {
  v1::Matrix proto;
  MatrixToProto(Example(), {}, /*sparse=*/true, &proto);
  ASSERT_TRUE(proto.has_csr());
  EXPECT_THAT(proto.csr().indptr(), ElementsAre(0, 1, 3));
  EXPECT_THAT(proto.csr().indices(), ElementsAre(1, 0, 2));
  EXPECT_TRUE(ColumnNames(proto).empty());
  absl::StatusOr<DenseMatrix> back = MatrixFromProto(proto, "cells");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->values, Example().values);
}

TEST(MatrixCodecTest, RaggedDenseValues) {
  v1::Matrix proto;
  MatrixToProto(Example(), {}, false, &proto);
  proto.mutable_dense()->add_values(1);
  EXPECT_THAT(MatrixFromProto(proto, "cells"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells.dense.values: has 7 values")));
}

TEST(MatrixCodecTest, BadIndptr) {
  v1::Matrix proto;
  MatrixToProto(Example(), {}, true, &proto);
  proto.mutable_csr()->set_indptr(1, 5);
  EXPECT_THAT(MatrixFromProto(proto, "cells"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                        HasSubstr("cells.csr.indptr: decreases at row 1")));
  proto.mutable_csr()->mutable_indptr()->RemoveLast();
  EXPECT_THAT(MatrixFromProto(proto, "cells"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells.csr.indptr: has 2 entries")));
}

TEST(MatrixCodecTest, ColumnOutOfRange) {
  v1::Matrix proto;
  MatrixToProto(Example(), {}, true, &proto);
  proto.mutable_csr()->set_indices(2, 3);
  EXPECT_THAT(MatrixFromProto(proto, "cells"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cells.csr.indices: column 3 out of range [0, 3) at row 1")));
}

TEST(MatrixCodecTest, NanNamesFieldRowAndColumn) {
  DenseMatrix m = Example();
  m.at(1, 2) = std::numeric_limits<float>::quiet_NaN();
  for (bool sparse : {false, true}) {
    v1::Matrix proto;
    MatrixToProto(m, {}, sparse, &proto);
    EXPECT_THAT(MatrixFromProto(proto, "latent"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("latent: non-finite value nan at row 1, column 2")))
        << (sparse ? "csr" : "dense");
  }
}

TEST(MatrixCodecTest, NegativeShape) {
  v1::Matrix proto;
  proto.set_rows(-1);
  proto.set_cols(2);
  proto.mutable_dense();
  EXPECT_THAT(MatrixFromProto(proto, "cells"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells: negative shape -1 x 2")));
}

TEST(MatrixCodecTest, HugeShapeRejectedBeforeAllocation) {
  v1::Matrix proto;
  proto.set_rows(int64_t{1} << 40);
  proto.set_cols(int64_t{1} << 20);
  proto.mutable_csr();
  EXPECT_THAT(MatrixFromProto(proto, "cells"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds the limit")));
}

TEST(MatrixCodecTest, MissingStorage) {
  v1::Matrix proto;
  proto.set_rows(1);
  proto.set_cols(1);
  EXPECT_THAT(MatrixFromProto(proto, "cells"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells: no values")));
}

TEST(MatrixCodecTest, WrongColumnNamesCount) {
  v1::Matrix proto;
  MatrixToProto(Example(), {"a", "b"}, false, &proto);
  EXPECT_THAT(MatrixFromProto(proto, "cells"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cells.column_names: has 2 names, expected 0 or cols = 3")));
}

TEST(MatrixCodecTest, CheckMatrixShapeMakesMatrixFromProtosChecksOnTheShapeOnly) {
  DenseMatrix with_nan = Example();
  with_nan.at(0, 1) = std::numeric_limits<float>::quiet_NaN();
  v1::Matrix proto;
  MatrixToProto(with_nan, {"a", "b", "c"}, false, &proto);
  EXPECT_THAT(CheckMatrixShape(proto, "cells"), IsOk());  // the values are the caller's to check
  EXPECT_THAT(MatrixFromProto(proto, "cells"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-finite")));

  v1::Matrix ragged = proto;
  ragged.mutable_dense()->add_values(1);
  v1::Matrix names = proto;
  names.mutable_column_names()->RemoveLast();
  v1::Matrix negative = proto;
  negative.set_rows(-2);
  v1::Matrix huge = proto;
  huge.set_rows(int64_t{1} << 40);
  for (const v1::Matrix& bad : {ragged, names, negative, huge}) {
    const absl::Status shape = CheckMatrixShape(bad, "cells");
    EXPECT_THAT(shape, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells"))) << bad.ShortDebugString();
    EXPECT_EQ(shape, MatrixFromProto(bad, "cells").status());
  }
}

google::protobuf::RepeatedPtrField<v1::CovariateColumn> Columns() {
  google::protobuf::RepeatedPtrField<v1::CovariateColumn> columns;
  CovariatesToProto({{"batch", {"b0", "b1"}}, {"cell_type", {"T", "B"}}}, &columns);
  return columns;
}

TEST(MatrixCodecTest, CovariatesRoundTrip) {
  const auto columns = Columns();
  ASSERT_EQ(columns.size(), 2);
  EXPECT_EQ(columns.Get(0).name(), "batch");
  auto back = CovariatesFromProto(columns, 2, "covariates");
  ASSERT_THAT(back, IsOk());
  EXPECT_THAT(back->at("cell_type"), ElementsAre("T", "B"));
  EXPECT_THAT(back->at("batch"), ElementsAre("b0", "b1"));
}

TEST(MatrixCodecTest, CovariateLengthMismatch) {
  EXPECT_THAT(CovariatesFromProto(Columns(), 3, "covariates"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("covariates['batch'].values: has 2 values, expected 3")));
}

TEST(MatrixCodecTest, DuplicateAndEmptyCovariateNames) {
  auto columns = Columns();
  *columns.Add() = columns.Get(1);
  EXPECT_THAT(CovariatesFromProto(columns, 2, "covariates"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("covariates[2]: covariate 'cell_type' given more than once")));
  columns = Columns();
  columns.Mutable(0)->clear_name();
  EXPECT_THAT(CovariatesFromProto(columns, 2, "covariates"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("covariates[0].name: empty")));
}

}  // namespace
}  // namespace genailab
