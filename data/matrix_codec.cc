#include "data/matrix_codec.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

// The most values one request may expand to (8 GiB of float32); larger shapes are rejected before any
// allocation so a malformed header cannot exhaust memory.
constexpr int64_t kMaxValues = int64_t{1} << 31;

DenseMatrix DenseFromProto(const v1::Matrix& proto) {
  const auto& values = proto.dense().values();
  DenseMatrix matrix;
  matrix.rows = proto.rows();
  matrix.cols = proto.cols();
  matrix.values.assign(values.begin(), values.end());
  return matrix;
}

absl::StatusOr<DenseMatrix> CsrFromProto(const v1::Matrix& proto, const std::string& field) {
  const v1::CsrValues& values = proto.csr();
  CsrMatrix csr;
  csr.rows = proto.rows();
  csr.cols = proto.cols();
  csr.data.assign(values.data().begin(), values.data().end());
  csr.indices.assign(values.indices().begin(), values.indices().end());
  csr.indptr.assign(values.indptr().begin(), values.indptr().end());
  return csr.ToDense(absl::StrCat(field, ".csr"));
}

}  // namespace

absl::Status CheckMatrixShape(const v1::Matrix& proto, const std::string& field) {
  if (proto.rows() < 0 || proto.cols() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": negative shape ", proto.rows(), " x ", proto.cols()));
  }
  if (proto.cols() > 0 && proto.rows() > kMaxValues / proto.cols()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": shape ", proto.rows(), " x ", proto.cols(),
                                                   " exceeds the limit of ", kMaxValues, " values"));
  }
  if (proto.column_names_size() != 0 && proto.column_names_size() != proto.cols()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".column_names: has ", proto.column_names_size(),
                                                   " names, expected 0 or cols = ", proto.cols()));
  }
  if (proto.storage_case() == v1::Matrix::kDense &&
      static_cast<int64_t>(proto.dense().values_size()) != proto.rows() * proto.cols()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".dense.values: has ", proto.dense().values_size(),
                                                   " values, expected rows * cols = ", proto.rows(), " * ",
                                                   proto.cols(), " = ", proto.rows() * proto.cols()));
  }
  return absl::OkStatus();
}

absl::StatusOr<DenseMatrix> MatrixFromProto(const v1::Matrix& proto, const std::string& field) {
  GENAILAB_RETURN_IF_ERROR(CheckMatrixShape(proto, field));
  DenseMatrix matrix;
  switch (proto.storage_case()) {
    case v1::Matrix::kDense: {
      matrix = DenseFromProto(proto);
      break;
    }
    case v1::Matrix::kCsr: {
      GENAILAB_ASSIGN_OR_RETURN(matrix, CsrFromProto(proto, field));
      break;
    }
    case v1::Matrix::STORAGE_NOT_SET:
      return absl::InvalidArgumentError(absl::StrCat(field, ": no values (set dense or csr)"));
  }
  GENAILAB_RETURN_IF_ERROR(matrix.CheckFinite(field));
  return matrix;
}

void MatrixToProto(const DenseMatrix& matrix, const std::vector<std::string>& column_names, bool sparse,
                   v1::Matrix* proto) {
  proto->Clear();
  proto->set_rows(matrix.rows);
  proto->set_cols(matrix.cols);
  for (const std::string& name : column_names) proto->add_column_names(name);
  if (sparse) {
    const CsrMatrix csr = CsrMatrix::FromDense(matrix);
    v1::CsrValues* out = proto->mutable_csr();
    out->mutable_data()->Add(csr.data.begin(), csr.data.end());
    out->mutable_indices()->Add(csr.indices.begin(), csr.indices.end());
    out->mutable_indptr()->Add(csr.indptr.begin(), csr.indptr.end());
  } else {
    proto->mutable_dense()->mutable_values()->Add(matrix.values.begin(), matrix.values.end());
  }
}

std::vector<std::string> ColumnNames(const v1::Matrix& proto) {
  return std::vector<std::string>(proto.column_names().begin(), proto.column_names().end());
}

absl::StatusOr<std::map<std::string, std::vector<std::string>>> CovariatesFromProto(
    const google::protobuf::RepeatedPtrField<v1::CovariateColumn>& columns, int64_t rows,
    const std::string& field) {
  std::map<std::string, std::vector<std::string>> out;
  for (int i = 0; i < columns.size(); ++i) {
    const v1::CovariateColumn& column = columns.Get(i);
    if (column.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "].name: empty"));
    }
    if (out.count(column.name()) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "]: covariate '", column.name(), "' given more than once"));
    }
    if (column.values_size() != rows) {
      return absl::InvalidArgumentError(absl::StrCat(field, "['", column.name(), "'].values: has ",
                                                     column.values_size(), " values, expected ", rows,
                                                     " (one per cell)"));
    }
    out[column.name()] = std::vector<std::string>(column.values().begin(), column.values().end());
  }
  return out;
}

void CovariatesToProto(const std::map<std::string, std::vector<std::string>>& columns,
                       google::protobuf::RepeatedPtrField<v1::CovariateColumn>* proto) {
  for (const auto& [name, values] : columns) {
    v1::CovariateColumn* column = proto->Add();
    column->set_name(name);
    column->mutable_values()->Add(values.begin(), values.end());
  }
}

}  // namespace genailab
