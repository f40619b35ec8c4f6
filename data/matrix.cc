#include "data/matrix.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {

absl::Status DenseMatrix::Validate(const std::string& field) const {
  if (rows < 0 || cols < 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": negative shape ", rows, " x ", cols));
  }
  if (static_cast<int64_t>(values.size()) != rows * cols) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": has ", values.size(),
                                                   " values, expected rows * cols = ", rows, " * ", cols,
                                                   " = ", rows * cols));
  }
  return absl::OkStatus();
}

namespace {

// True if any of values[0, n) is NaN or +-Inf (exponent bits all set). Branch-free blocks of a fixed
// length, so the compiler vectorizes them; requests check every value they carry.
bool AnyNonFinite(const float* values, size_t n) {
  constexpr size_t kBlock = 64;
  constexpr uint32_t kExponent = 0x7f800000u;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    uint32_t bits[kBlock];
    std::memcpy(bits, values + i, sizeof(bits));
    uint32_t bad = 0;
    for (size_t j = 0; j < kBlock; ++j) bad |= static_cast<uint32_t>((bits[j] & kExponent) == kExponent);
    if (bad != 0) return true;
  }
  for (; i < n; ++i) {
    if (!std::isfinite(values[i])) return true;
  }
  return false;
}

}  // namespace

absl::Status CheckFiniteValues(const float* values, size_t n, int64_t cols, int64_t first_row,
                               const std::string& field) {
  if (!AnyNonFinite(values, n)) return absl::OkStatus();
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      const int64_t r = cols > 0 ? static_cast<int64_t>(i) / cols : 0;
      const int64_t c = cols > 0 ? static_cast<int64_t>(i) % cols : 0;
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": non-finite value ", values[i], " at row ", first_row + r, ", column ", c));
    }
  }
  return absl::OkStatus();
}

absl::Status DenseMatrix::CheckFinite(const std::string& field) const {
  return CheckFiniteValues(values.data(), values.size(), cols, 0, field);
}

DenseMatrix DenseMatrix::SelectRows(const std::vector<int64_t>& indices) const {
  DenseMatrix out(static_cast<int64_t>(indices.size()), cols);
  for (size_t i = 0; i < indices.size(); ++i) {
    std::copy(row(indices[i]), row(indices[i]) + cols, out.row(static_cast<int64_t>(i)));
  }
  return out;
}

absl::Status CsrMatrix::Validate(const std::string& field) const {
  if (rows < 0 || cols < 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": negative shape ", rows, " x ", cols));
  }
  if (static_cast<int64_t>(indptr.size()) != rows + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".indptr: has ", indptr.size(), " entries, expected rows + 1 = ", rows + 1));
  }
  if (indices.size() != data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".indices: has ", indices.size(), " entries but data has ", data.size()));
  }
  if (indptr[0] != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".indptr: first entry is ", indptr[0], ", expected 0"));
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (indptr[r + 1] < indptr[r]) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".indptr: decreases at row ", r, " (", indptr[r], " -> ", indptr[r + 1], ")"));
    }
  }
  if (indptr[rows] != static_cast<int64_t>(data.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".indptr: last entry is ", indptr[rows], ", expected data size ", data.size()));
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
      if (indices[k] < 0 || indices[k] >= cols) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".indices: column ", indices[k], " out of range [0, ", cols, ") at row ", r));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DenseMatrix> CsrMatrix::ToDense(const std::string& field) const {
  GENAILAB_RETURN_IF_ERROR(Validate(field));
  DenseMatrix dense(rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    float* out = dense.row(r);
    // Duplicate entries are summed, as scipy does.
    for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) out[indices[k]] += data[k];
  }
  return dense;
}

CsrMatrix CsrMatrix::FromDense(const DenseMatrix& dense) {
  CsrMatrix csr;
  csr.rows = dense.rows;
  csr.cols = dense.cols;
  csr.indptr.reserve(static_cast<size_t>(dense.rows) + 1);
  csr.indptr.push_back(0);
  for (int64_t r = 0; r < dense.rows; ++r) {
    const float* in = dense.row(r);
    for (int64_t c = 0; c < dense.cols; ++c) {
      if (in[c] != 0.0f) {
        csr.data.push_back(in[c]);
        csr.indices.push_back(c);
      }
    }
    csr.indptr.push_back(static_cast<int64_t>(csr.data.size()));
  }
  return csr;
}

}  // namespace genailab
