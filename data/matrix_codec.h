// Conversion between genailab.v1.Matrix / CovariateColumn messages and the in-memory types. Shared by the
// server and the client so both sides agree on the wire format.
#ifndef GENAILAB_DATA_MATRIX_CODEC_H_
#define GENAILAB_DATA_MATRIX_CODEC_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"
#include "genailab/v1/generative_service.pb.h"

namespace genailab {

// Dense or CSR message -> DenseMatrix. INVALID_ARGUMENT naming `field` (e.g. "cells") for negative or
// inconsistent shapes, a missing storage, ragged values, bad CSR structure, a column_names count other
// than 0 or cols, or NaN/Inf values (with row and column).
absl::StatusOr<DenseMatrix> MatrixFromProto(const v1::Matrix& proto, const std::string& field);
// The checks MatrixFromProto makes before it reads any value: the shape, the column_names count and, for
// dense storage, the value count. For callers that read dense values where they lie in the message (they
// then check them for NaN and Inf themselves).
absl::Status CheckMatrixShape(const v1::Matrix& proto, const std::string& field);

// Writes `matrix` densely (or as CSR when `sparse`), with `column_names` (may be empty).
void MatrixToProto(const DenseMatrix& matrix, const std::vector<std::string>& column_names, bool sparse,
                   v1::Matrix* proto);

// Column names of the message (empty if none).
std::vector<std::string> ColumnNames(const v1::Matrix& proto);

// Repeated CovariateColumn -> name -> values. INVALID_ARGUMENT naming `field` for a repeated or empty name
// or a column whose length is not `rows`.
absl::StatusOr<std::map<std::string, std::vector<std::string>>> CovariatesFromProto(
    const google::protobuf::RepeatedPtrField<v1::CovariateColumn>& columns, int64_t rows,
    const std::string& field);

void CovariatesToProto(const std::map<std::string, std::vector<std::string>>& columns,
                       google::protobuf::RepeatedPtrField<v1::CovariateColumn>* proto);

}  // namespace genailab

#endif  // GENAILAB_DATA_MATRIX_CODEC_H_
