#include "models/disentanglement.h"

#include <algorithm>
#include <functional>
#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

absl::Status CheckInputs(const DenseMatrix& latents, const DenseMatrix& factors) {
  GENAILAB_RETURN_IF_ERROR(latents.Validate("latents"));
  GENAILAB_RETURN_IF_ERROR(factors.Validate("factors"));
  GENAILAB_RETURN_IF_ERROR(latents.CheckFinite("latents"));
  GENAILAB_RETURN_IF_ERROR(factors.CheckFinite("factors"));
  if (latents.rows != factors.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("latents has ", latents.rows, " rows but factors has ", factors.rows));
  }
  if (latents.rows < 2) return absl::InvalidArgumentError("latents: needs at least 2 cells");
  if (latents.cols < 2) {
    return absl::InvalidArgumentError(absl::StrCat("latents: needs at least 2 dimensions, got ", latents.cols));
  }
  if (factors.cols < 1) return absl::InvalidArgumentError("factors: no factor given");
  return absl::OkStatus();
}

std::vector<double> Column(const DenseMatrix& matrix, int64_t column) {
  std::vector<double> values(static_cast<size_t>(matrix.rows));
  for (int64_t r = 0; r < matrix.rows; ++r) values[r] = matrix.at(r, column);
  return values;
}

// Equal-width bin of each value over [min, max] (all in bin 0 when constant).
std::vector<int> EqualWidthBins(const std::vector<double>& values, int bins) {
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  std::vector<int> codes(values.size(), 0);
  const double width = (*high - *low) / bins;
  if (width <= 0.0) return codes;
  for (size_t i = 0; i < values.size(); ++i) {
    codes[i] = std::min(bins - 1, static_cast<int>((values[i] - *low) / width));
  }
  return codes;
}

// Category codes of a factor: its distinct values when there are at most `bins`, else equal-width bins.
std::vector<int> FactorCodes(const std::vector<double>& values, int bins) {
  std::map<double, int> distinct;
  for (double value : values) {
    distinct.emplace(value, 0);
    if (static_cast<int>(distinct.size()) > bins) return EqualWidthBins(values, bins);
  }
  int next = 0;
  for (auto& [value, code] : distinct) code = next++;
  std::vector<int> codes(values.size());
  for (size_t i = 0; i < values.size(); ++i) codes[i] = distinct[values[i]];
  return codes;
}

double Entropy(const std::vector<int>& codes) {
  std::map<int, double> counts;
  for (int code : codes) counts[code] += 1.0;
  double entropy = 0.0;
  const double n = static_cast<double>(codes.size());
  for (const auto& [code, count] : counts) entropy -= count / n * std::log(count / n);
  return entropy;
}

double MutualInformation(const std::vector<int>& a, const std::vector<int>& b) {
  // I(a; b) = H(a) + H(b) - H(a, b), with H(a, b) the entropy of the code pairs.
  std::vector<int> pair_codes;
  std::map<std::pair<int, int>, int> pair_index;
  pair_codes.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    pair_codes.push_back(pair_index.emplace(std::make_pair(a[i], b[i]), static_cast<int>(pair_index.size()))
                             .first->second);
  }
  return std::max(0.0, Entropy(a) + Entropy(b) - Entropy(pair_codes));
}

// Entropy of a discrete distribution (normalized here) in base `base`.
double NormalizedEntropy(const std::vector<double>& weights, double base) {
  double total = 0.0;
  for (double w : weights) total += w;
  if (total <= 0.0) return 1.0;
  double entropy = 0.0;
  for (double w : weights) {
    const double p = w / total;
    if (p > 0.0) entropy -= p * std::log(p);
  }
  return entropy / std::log(base);
}

// Standardized copy of each column (mean 0, sd 1); a constant column becomes zeros and is flagged in
// `constant`.
std::vector<std::vector<double>> Standardized(const DenseMatrix& matrix, std::vector<bool>* constant) {
  std::vector<std::vector<double>> columns;
  constant->assign(static_cast<size_t>(matrix.cols), false);
  for (int64_t c = 0; c < matrix.cols; ++c) {
    std::vector<double> values = Column(matrix, c);
    double mean = 0.0;
    for (double v : values) mean += v;
    mean /= static_cast<double>(values.size());
    double variance = 0.0;
    for (double v : values) variance += (v - mean) * (v - mean);
    variance /= static_cast<double>(values.size());
    const double sd = std::sqrt(variance);
    if (!(sd > 1e-12)) (*constant)[c] = true;
    for (double& v : values) v = (*constant)[c] ? 0.0 : (v - mean) / sd;
    columns.push_back(std::move(values));
  }
  return columns;
}

// Solves (A) x = b for a symmetric positive-definite A (n x n, row-major) by Cholesky.
std::vector<double> SolveSpd(std::vector<double> a, std::vector<double> b, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double diagonal = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) diagonal -= a[j * n + k] * a[j * n + k];
    a[j * n + j] = std::sqrt(std::max(diagonal, 1e-300));
    for (int64_t i = j + 1; i < n; ++i) {
      double value = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) value -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = value / a[j * n + j];
    }
  }
  for (int64_t i = 0; i < n; ++i) {  // L y = b
    for (int64_t k = 0; k < i; ++k) b[i] -= a[i * n + k] * b[k];
    b[i] /= a[i * n + i];
  }
  for (int64_t i = n - 1; i >= 0; --i) {  // L^T x = y
    for (int64_t k = i + 1; k < n; ++k) b[i] -= a[k * n + i] * b[k];
    b[i] /= a[i * n + i];
  }
  return b;
}

}  // namespace

absl::StatusOr<double> MutualInformationGap(const DenseMatrix& latents, const DenseMatrix& factors, int bins) {
  GENAILAB_RETURN_IF_ERROR(CheckInputs(latents, factors));
  if (bins < 2) return absl::InvalidArgumentError(absl::StrCat("bins: must be >= 2, got ", bins));
  std::vector<std::vector<int>> latent_codes;
  for (int64_t j = 0; j < latents.cols; ++j) latent_codes.push_back(EqualWidthBins(Column(latents, j), bins));
  double gap_sum = 0.0;
  int informative_factors = 0;
  for (int64_t k = 0; k < factors.cols; ++k) {
    const std::vector<int> factor = FactorCodes(Column(factors, k), bins);
    const double entropy = Entropy(factor);
    if (entropy <= 0.0) continue;
    std::vector<double> information;
    for (const std::vector<int>& codes : latent_codes) information.push_back(MutualInformation(codes, factor));
    std::partial_sort(information.begin(), information.begin() + 2, information.end(), std::greater<double>());
    gap_sum += (information[0] - information[1]) / entropy;
    ++informative_factors;
  }
  if (informative_factors == 0) return absl::InvalidArgumentError("factors: every factor is constant");
  return gap_sum / informative_factors;
}

absl::StatusOr<DciScores> ComputeDci(const DenseMatrix& latents, const DenseMatrix& factors, double ridge) {
  GENAILAB_RETURN_IF_ERROR(CheckInputs(latents, factors));
  if (factors.cols < 2) {
    return absl::InvalidArgumentError(absl::StrCat("factors: DCI needs at least 2 factors, got ", factors.cols));
  }
  if (latents.rows < latents.cols) {
    return absl::InvalidArgumentError(absl::StrCat("latents: needs at least as many cells as dimensions (",
                                                   latents.cols, "), got ", latents.rows));
  }
  if (!(ridge >= 0.0)) return absl::InvalidArgumentError(absl::StrCat("ridge: must be >= 0, got ", ridge));
  const int64_t n = latents.rows, d = latents.cols, k_factors = factors.cols;
  std::vector<bool> latent_constant, factor_constant;
  const std::vector<std::vector<double>> z = Standardized(latents, &latent_constant);
  const std::vector<std::vector<double>> v = Standardized(factors, &factor_constant);
  for (int64_t k = 0; k < k_factors; ++k) {
    if (factor_constant[k]) return absl::InvalidArgumentError(absl::StrCat("factors: column ", k, " is constant"));
  }
  // Gram matrix Z^T Z / n + ridge I (standardized: the diagonal is 1 for non-constant latents).
  std::vector<double> gram(static_cast<size_t>(d * d), 0.0);
  for (int64_t a = 0; a < d; ++a) {
    for (int64_t b = a; b < d; ++b) {
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += z[a][i] * z[b][i];
      gram[a * d + b] = gram[b * d + a] = sum / n;
    }
    gram[a * d + a] += ridge + (latent_constant[a] ? 1.0 : 0.0);  // keeps a constant latent's row solvable
  }
  DciScores scores;
  scores.importance = DenseMatrix(d, k_factors);
  double informativeness_sum = 0.0;
  for (int64_t k = 0; k < k_factors; ++k) {
    std::vector<double> rhs(static_cast<size_t>(d), 0.0);
    for (int64_t a = 0; a < d; ++a) {
      for (int64_t i = 0; i < n; ++i) rhs[a] += z[a][i] * v[k][i];
      rhs[a] /= n;
    }
    const std::vector<double> weights = SolveSpd(gram, rhs, d);
    double residual = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      double prediction = 0.0;
      for (int64_t a = 0; a < d; ++a) prediction += weights[a] * z[a][i];
      residual += (v[k][i] - prediction) * (v[k][i] - prediction);
    }
    informativeness_sum += std::max(0.0, 1.0 - residual / n);  // standardized: total sum of squares = n
    for (int64_t a = 0; a < d; ++a) scores.importance.at(a, k) = static_cast<float>(std::fabs(weights[a]));
  }
  scores.informativeness = informativeness_sum / k_factors;
  double total = 0.0;
  for (float value : scores.importance.values) total += value;
  if (!(total > 0.0)) return absl::InvalidArgumentError("latents: carry no linear information about the factors");
  for (int64_t a = 0; a < d; ++a) {
    std::vector<double> row(static_cast<size_t>(k_factors));
    double row_sum = 0.0;
    for (int64_t k = 0; k < k_factors; ++k) row_sum += row[k] = scores.importance.at(a, k);
    if (row_sum > 0.0) scores.disentanglement += row_sum / total * (1.0 - NormalizedEntropy(row, k_factors));
  }
  for (int64_t k = 0; k < k_factors; ++k) {
    std::vector<double> column(static_cast<size_t>(d));
    for (int64_t a = 0; a < d; ++a) column[a] = scores.importance.at(a, k);
    scores.completeness += (1.0 - NormalizedEntropy(column, d)) / k_factors;
  }
  return scores;
}

}  // namespace genailab
