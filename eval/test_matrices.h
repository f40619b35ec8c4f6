// Test-only helpers: small matrices built from literals and seeded Gaussian samples.
#ifndef GENAILAB_EVAL_TEST_MATRICES_H_
#define GENAILAB_EVAL_TEST_MATRICES_H_

#include <cstdint>
#include <random>
#include <vector>

#include "data/matrix.h"

namespace genailab {

// rows given as nested braces: MatrixOf({{1, 2}, {3, 4}}).
inline DenseMatrix MatrixOf(const std::vector<std::vector<float>>& rows) {
  DenseMatrix matrix(static_cast<int64_t>(rows.size()), rows.empty() ? 0 : static_cast<int64_t>(rows[0].size()));
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) matrix.at(r, c) = rows[r][c];
  }
  return matrix;
}

// rows x cols of N(mean[c], sd^2), from a generator seeded with `seed`.
inline DenseMatrix GaussianSample(int64_t rows, const std::vector<float>& mean, float sd, uint64_t seed) {
  DenseMatrix matrix(rows, static_cast<int64_t>(mean.size()));
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> normal(0.0f, sd);
  for (int64_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < mean.size(); ++c) matrix.at(r, c) = mean[c] + normal(generator);
  }
  return matrix;
}

}  // namespace genailab

#endif  // GENAILAB_EVAL_TEST_MATRICES_H_
