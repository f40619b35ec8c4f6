#include "eval/distribution_distances.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/pairwise_distances.h"

namespace genailab {
namespace {

absl::Status CheckNonEmpty(const DenseMatrix& x, const DenseMatrix& y) {
  if (x.rows == 0) return absl::InvalidArgumentError("x: no cells");
  if (y.rows == 0) return absl::InvalidArgumentError("y: no cells");
  return absl::OkStatus();
}

// Median of the pooled pairwise distances (i < j), from the three squared-distance blocks.
double MedianDistance(const std::vector<double>& xx, const std::vector<double>& yy,
                      const std::vector<double>& xy, int64_t nx, int64_t ny) {
  std::vector<double> distances;
  distances.reserve(xy.size() + xx.size() / 2 + yy.size() / 2);
  for (int64_t i = 0; i < nx; ++i) {
    for (int64_t j = i + 1; j < nx; ++j) distances.push_back(std::sqrt(xx[i * nx + j]));
  }
  for (int64_t i = 0; i < ny; ++i) {
    for (int64_t j = i + 1; j < ny; ++j) distances.push_back(std::sqrt(yy[i * ny + j]));
  }
  for (double d : xy) distances.push_back(std::sqrt(d));
  if (distances.empty()) return 1.0;
  std::nth_element(distances.begin(), distances.begin() + distances.size() / 2, distances.end());
  const double median = distances[distances.size() / 2];
  return median > 0.0 ? median : 1.0;
}

double MeanOf(const std::vector<double>& values, double (*transform)(double, const std::vector<double>&),
              const std::vector<double>& parameters) {
  double sum = 0.0;
  for (double value : values) sum += transform(value, parameters);
  return sum / static_cast<double>(values.size());
}

double MultiRbf(double squared_distance, const std::vector<double>& bandwidths) {
  double sum = 0.0;
  for (double s : bandwidths) sum += std::exp(-squared_distance / (2.0 * s * s));
  return sum / static_cast<double>(bandwidths.size());
}

double Norm(double squared_distance, const std::vector<double>&) { return std::sqrt(squared_distance); }

}  // namespace

absl::StatusOr<MmdResult> MaximumMeanDiscrepancy(const DenseMatrix& x, const DenseMatrix& y,
                                                 const std::vector<double>& bandwidths) {
  GENAILAB_RETURN_IF_ERROR(CheckNonEmpty(x, y));
  for (size_t i = 0; i < bandwidths.size(); ++i) {
    if (!(bandwidths[i] > 0.0)) {
      return absl::InvalidArgumentError(absl::StrCat("bandwidths[", i, "] must be > 0, got ", bandwidths[i]));
    }
  }
  GENAILAB_ASSIGN_OR_RETURN(std::vector<double> xy, SquaredDistances(x, y, "x, y"));
  GENAILAB_ASSIGN_OR_RETURN(std::vector<double> xx, SquaredDistances(x, x, "x"));
  GENAILAB_ASSIGN_OR_RETURN(std::vector<double> yy, SquaredDistances(y, y, "y"));
  MmdResult result;
  result.bandwidths = bandwidths;
  if (result.bandwidths.empty()) {
    const double median = MedianDistance(xx, yy, xy, x.rows, y.rows);
    for (double factor : {0.25, 0.5, 1.0, 2.0, 4.0}) result.bandwidths.push_back(median * factor);
  }
  const double mmd = MeanOf(xx, MultiRbf, result.bandwidths) + MeanOf(yy, MultiRbf, result.bandwidths) -
                     2.0 * MeanOf(xy, MultiRbf, result.bandwidths);
  // The V-statistic is a squared RKHS norm: only rounding can make it negative.
  result.mmd_squared = std::max(0.0, mmd);
  return result;
}

absl::StatusOr<double> EnergyDistance(const DenseMatrix& x, const DenseMatrix& y) {
  GENAILAB_RETURN_IF_ERROR(CheckNonEmpty(x, y));
  GENAILAB_ASSIGN_OR_RETURN(std::vector<double> xy, SquaredDistances(x, y, "x, y"));
  GENAILAB_ASSIGN_OR_RETURN(std::vector<double> xx, SquaredDistances(x, x, "x"));
  GENAILAB_ASSIGN_OR_RETURN(std::vector<double> yy, SquaredDistances(y, y, "y"));
  const double energy = 2.0 * MeanOf(xy, Norm, {}) - MeanOf(xx, Norm, {}) - MeanOf(yy, Norm, {});
  return std::max(0.0, energy);
}

}  // namespace genailab
