// Pairwise squared Euclidean distances between the rows of two matrices, and seeded row subsampling:
// the shared building blocks of the distribution distances (MMD, energy) and the k-NN metrics.
// Stateless functions; thread-safe.
#ifndef GENAILAB_EVAL_PAIRWISE_DISTANCES_H_
#define GENAILAB_EVAL_PAIRWISE_DISTANCES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"

namespace genailab {

// a.rows x b.rows squared distances, row-major, accumulated in double and clamped at 0.
// INVALID_ARGUMENT (naming `field`) if the column counts differ or a matrix is malformed.
absl::StatusOr<std::vector<double>> SquaredDistances(const DenseMatrix& a, const DenseMatrix& b,
                                                     const char* field = "matrices");

// At most `max_rows` rows of `matrix`, chosen uniformly without replacement by a generator seeded with
// `seed` (kept in their original order); the matrix itself when it has no more rows than that or
// max_rows <= 0.
DenseMatrix SubsampleRows(const DenseMatrix& matrix, int64_t max_rows, uint64_t seed);

}  // namespace genailab

#endif  // GENAILAB_EVAL_PAIRWISE_DISTANCES_H_
