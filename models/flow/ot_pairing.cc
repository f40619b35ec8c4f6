#include "models/flow/ot_pairing.h"

#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace genailab {

absl::StatusOr<std::vector<int64_t>> MinimumCostAssignment(const std::vector<double>& cost, int64_t n) {
  if (n < 0 || static_cast<int64_t>(cost.size()) != n * n) {
    return absl::InvalidArgumentError(
        absl::StrCat("cost: expected ", n, " x ", n, " = ", n * n, " values, got ", cost.size()));
  }
  for (size_t i = 0; i < cost.size(); ++i) {
    if (!std::isfinite(cost[i])) {
      return absl::InvalidArgumentError(absl::StrCat("cost: value at row ", i / n, ", column ", i % n,
                                                     " is not finite"));
    }
  }
  // 1-based shortest augmenting paths with row potentials u and column potentials v; match[j] = the row
  // assigned to column j (0 = none). Column 0 is the virtual start of each augmenting path.
  const double infinity = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(n + 1, 0.0);
  std::vector<int64_t> match(n + 1, 0), way(n + 1, 0);
  for (int64_t row = 1; row <= n; ++row) {
    match[0] = row;
    int64_t column = 0;
    std::vector<double> min_slack(n + 1, infinity);
    std::vector<bool> used(n + 1, false);
    do {
      used[column] = true;
      const int64_t current_row = match[column];
      double delta = infinity;
      int64_t next_column = 0;
      for (int64_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double slack = cost[(current_row - 1) * n + (j - 1)] - u[current_row] - v[j];
        if (slack < min_slack[j]) {
          min_slack[j] = slack;
          way[j] = column;
        }
        if (min_slack[j] < delta) {
          delta = min_slack[j];
          next_column = j;
        }
      }
      for (int64_t j = 0; j <= n; ++j) {
        if (used[j]) {
          u[match[j]] += delta;
          v[j] -= delta;
        } else {
          min_slack[j] -= delta;
        }
      }
      column = next_column;
    } while (match[column] != 0);
    do {
      const int64_t previous = way[column];
      match[column] = match[previous];
      column = previous;
    } while (column != 0);
  }
  std::vector<int64_t> assignment(n, -1);
  for (int64_t j = 1; j <= n; ++j) assignment[match[j] - 1] = j - 1;
  return assignment;
}

std::vector<double> SquaredDistanceCost(const std::vector<float>& source, const std::vector<float>& target,
                                        int64_t n, int64_t dim) {
  std::vector<double> cost(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < dim; ++k) {
        const double difference = static_cast<double>(source[i * dim + k]) - target[j * dim + k];
        sum += difference * difference;
      }
      cost[i * n + j] = sum;
    }
  }
  return cost;
}

}  // namespace genailab
