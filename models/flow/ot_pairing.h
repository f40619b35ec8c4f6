// Exact mini-batch optimal-transport pairing for flow matching: the Hungarian algorithm (Kuhn-Munkres with
// potentials, O(n^3)) on a square cost matrix. Batches in conditional flow matching are small (<= a few
// hundred rows), where the exact assignment costs less than a forward pass, so no Sinkhorn/greedy
// approximation is used. Torch-free, stateless, thread-safe.
#ifndef GENAILAB_MODELS_FLOW_OT_PAIRING_H_
#define GENAILAB_MODELS_FLOW_OT_PAIRING_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace genailab {

// cost: n x n, row-major (cost[i * n + j] = cost of pairing source i with target j). Returns for each source
// row i the target column it is assigned to, a permutation minimizing the total cost. INVALID_ARGUMENT if
// cost.size() != n * n or a cost is not finite.
absl::StatusOr<std::vector<int64_t>> MinimumCostAssignment(const std::vector<double>& cost, int64_t n);

// Squared Euclidean distances between the rows of `source` and `target` (both n x dim, row-major): the
// cost matrix of the straight-path (W2) OT problem.
std::vector<double> SquaredDistanceCost(const std::vector<float>& source, const std::vector<float>& target,
                                        int64_t n, int64_t dim);

}  // namespace genailab

#endif  // GENAILAB_MODELS_FLOW_OT_PAIRING_H_
