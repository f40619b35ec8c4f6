#include "eval/pairwise_distances.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {

absl::StatusOr<std::vector<double>> SquaredDistances(const DenseMatrix& a, const DenseMatrix& b,
                                                     const char* field) {
  GENAILAB_RETURN_IF_ERROR(a.Validate(field));
  GENAILAB_RETURN_IF_ERROR(b.Validate(field));
  if (a.cols != b.cols) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": column counts differ (", a.cols, " vs ", b.cols, ")"));
  }
  std::vector<double> distances(static_cast<size_t>(a.rows * b.rows), 0.0);
  for (int64_t i = 0; i < a.rows; ++i) {
    const float* row_a = a.row(i);
    for (int64_t j = 0; j < b.rows; ++j) {
      const float* row_b = b.row(j);
      double sum = 0.0;
      for (int64_t c = 0; c < a.cols; ++c) {
        const double difference = static_cast<double>(row_a[c]) - row_b[c];
        sum += difference * difference;
      }
      distances[static_cast<size_t>(i * b.rows + j)] = sum;
    }
  }
  return distances;
}

DenseMatrix SubsampleRows(const DenseMatrix& matrix, int64_t max_rows, uint64_t seed) {
  if (max_rows <= 0 || matrix.rows <= max_rows) return matrix;
  std::vector<int64_t> order(static_cast<size_t>(matrix.rows));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 generator(seed);
  std::shuffle(order.begin(), order.end(), generator);
  order.resize(static_cast<size_t>(max_rows));
  std::sort(order.begin(), order.end());
  return matrix.SelectRows(order);
}

}  // namespace genailab
