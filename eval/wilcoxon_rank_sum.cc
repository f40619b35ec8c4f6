#include "eval/wilcoxon_rank_sum.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {

absl::StatusOr<RankSumResult> WilcoxonRankSum(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty()) return absl::InvalidArgumentError("rank-sum test: sample a is empty");
  if (b.empty()) return absl::InvalidArgumentError("rank-sum test: sample b is empty");
  const double n_a = static_cast<double>(a.size());
  const double n_b = static_cast<double>(b.size());
  // (value, belongs to a) pooled and sorted; ties get the average of the ranks they span.
  std::vector<std::pair<double, bool>> pooled;
  pooled.reserve(a.size() + b.size());
  for (double value : a) pooled.emplace_back(value, true);
  for (double value : b) pooled.emplace_back(value, false);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& left, const auto& right) { return left.first < right.first; });
  double rank_sum_a = 0.0;
  double tie_term = 0.0;  // sum over tie groups of t^3 - t
  for (size_t start = 0; start < pooled.size();) {
    size_t end = start;
    while (end < pooled.size() && pooled[end].first == pooled[start].first) ++end;
    const double average_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (size_t i = start; i < end; ++i) {
      if (pooled[i].second) rank_sum_a += average_rank;
    }
    const double t = static_cast<double>(end - start);
    tie_term += t * t * t - t;
    start = end;
  }
  RankSumResult result;
  result.u = rank_sum_a - n_a * (n_a + 1.0) / 2.0;
  const double n = n_a + n_b;
  const double variance = n_a * n_b / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
  if (variance > 0.0) {
    result.z = (result.u - n_a * n_b / 2.0) / std::sqrt(variance);
    result.p_value = std::erfc(std::fabs(result.z) / std::sqrt(2.0));
  }
  return result;
}

absl::StatusOr<std::vector<int64_t>> TopGenesByRankSum(const DenseMatrix& perturbed, const DenseMatrix& control,
                                                       int64_t k) {
  GENAILAB_RETURN_IF_ERROR(perturbed.Validate("perturbed"));
  GENAILAB_RETURN_IF_ERROR(control.Validate("control"));
  if (perturbed.rows == 0) return absl::InvalidArgumentError("perturbed: no cells");
  if (control.rows == 0) return absl::InvalidArgumentError("control: no cells");
  if (perturbed.cols != control.cols) {
    return absl::InvalidArgumentError(absl::StrCat("perturbed has ", perturbed.cols, " genes but control has ",
                                                   control.cols));
  }
  std::vector<double> abs_z(static_cast<size_t>(perturbed.cols));
  std::vector<double> a(static_cast<size_t>(perturbed.rows)), b(static_cast<size_t>(control.rows));
  for (int64_t gene = 0; gene < perturbed.cols; ++gene) {
    for (int64_t i = 0; i < perturbed.rows; ++i) a[i] = perturbed.at(i, gene);
    for (int64_t i = 0; i < control.rows; ++i) b[i] = control.at(i, gene);
    GENAILAB_ASSIGN_OR_RETURN(RankSumResult test, WilcoxonRankSum(a, b));
    abs_z[gene] = std::fabs(test.z);
  }
  std::vector<int64_t> order(static_cast<size_t>(perturbed.cols));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return abs_z[x] > abs_z[y]; });
  if (k > 0 && k < static_cast<int64_t>(order.size())) order.resize(static_cast<size_t>(k));
  return order;
}

}  // namespace genailab
