#include "eval/mean_expression_r2.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/wilcoxon_rank_sum.h"

namespace genailab {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> Pick(const std::vector<double>& values, const std::vector<int64_t>& indices) {
  std::vector<double> picked;
  picked.reserve(indices.size());
  for (int64_t index : indices) picked.push_back(values[static_cast<size_t>(index)]);
  return picked;
}

std::vector<double> Minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> difference(a.size());
  for (size_t i = 0; i < a.size(); ++i) difference[i] = a[i] - b[i];
  return difference;
}

// SquaredPearson, NaN where it is undefined.
double SquaredPearsonOrNaN(const std::vector<double>& a, const std::vector<double>& b) {
  absl::StatusOr<double> r2 = SquaredPearson(a, b);
  return r2.ok() ? *r2 : kNaN;
}

}  // namespace

absl::StatusOr<double> SquaredPearson(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) {
    return absl::InvalidArgumentError(absl::StrCat("pearson: sizes differ (", a.size(), " vs ", b.size(), ")"));
  }
  if (a.size() < 2) return absl::InvalidArgumentError("pearson: needs at least 2 values");
  const double n = static_cast<double>(a.size());
  double mean_a = 0.0, mean_b = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    mean_a += a[i];
    mean_b += b[i];
  }
  mean_a /= n;
  mean_b /= n;
  double covariance = 0.0, variance_a = 0.0, variance_b = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    covariance += (a[i] - mean_a) * (b[i] - mean_b);
    variance_a += (a[i] - mean_a) * (a[i] - mean_a);
    variance_b += (b[i] - mean_b) * (b[i] - mean_b);
  }
  if (variance_a <= 0.0 || variance_b <= 0.0) {
    return absl::InvalidArgumentError("pearson: a vector is constant, the correlation is undefined");
  }
  return covariance * covariance / (variance_a * variance_b);
}

std::vector<double> ColumnMeans(const DenseMatrix& matrix) {
  std::vector<double> means(static_cast<size_t>(matrix.cols), 0.0);
  for (int64_t r = 0; r < matrix.rows; ++r) {
    const float* row = matrix.row(r);
    for (int64_t c = 0; c < matrix.cols; ++c) means[c] += row[c];
  }
  if (matrix.rows > 0) {
    for (double& mean : means) mean /= static_cast<double>(matrix.rows);
  }
  return means;
}

absl::StatusOr<MeanExpressionR2> ComputeMeanExpressionR2(const DenseMatrix& real, const DenseMatrix& generated,
                                                         const DenseMatrix& control, int64_t top_k) {
  GENAILAB_RETURN_IF_ERROR(real.Validate("real"));
  GENAILAB_RETURN_IF_ERROR(generated.Validate("generated"));
  if (real.rows == 0) return absl::InvalidArgumentError("real: no cells");
  if (generated.rows == 0) return absl::InvalidArgumentError("generated: no cells");
  if (real.cols != generated.cols) {
    return absl::InvalidArgumentError(
        absl::StrCat("real has ", real.cols, " genes but generated has ", generated.cols));
  }
  const std::vector<double> real_means = ColumnMeans(real);
  const std::vector<double> generated_means = ColumnMeans(generated);
  MeanExpressionR2 result;
  GENAILAB_ASSIGN_OR_RETURN(result.r2_all_genes, SquaredPearson(real_means, generated_means));
  result.r2_top_genes = kNaN;
  result.delta_r2_all_genes = kNaN;
  result.delta_r2_top_genes = kNaN;
  if (control.rows == 0) return result;
  if (control.cols != real.cols) {
    return absl::InvalidArgumentError(
        absl::StrCat("real has ", real.cols, " genes but control has ", control.cols));
  }
  GENAILAB_ASSIGN_OR_RETURN(result.top_genes, TopGenesByRankSum(real, control, top_k));
  const std::vector<double> control_means = ColumnMeans(control);
  const std::vector<double> real_delta = Minus(real_means, control_means);
  const std::vector<double> generated_delta = Minus(generated_means, control_means);
  result.r2_top_genes = SquaredPearsonOrNaN(Pick(real_means, result.top_genes),
                                            Pick(generated_means, result.top_genes));
  result.delta_r2_all_genes = SquaredPearsonOrNaN(real_delta, generated_delta);
  result.delta_r2_top_genes = SquaredPearsonOrNaN(Pick(real_delta, result.top_genes),
                                                  Pick(generated_delta, result.top_genes));
  return result;
}

}  // namespace genailab
