#include "eval/knn_metrics.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/pairwise_distances.h"

namespace genailab {
namespace {

absl::Status CheckOptions(const KnnOptions& options, int64_t rows) {
  if (options.k < 1) return absl::InvalidArgumentError(absl::StrCat("k must be >= 1, got ", options.k));
  if (options.folds < 2) {
    return absl::InvalidArgumentError(absl::StrCat("folds must be >= 2, got ", options.folds));
  }
  if (rows < options.folds) {
    return absl::InvalidArgumentError(
        absl::StrCat("needs at least folds (", options.folds, ") cells, got ", rows));
  }
  return absl::OkStatus();
}

// For each row i, the indices of its (at most) k nearest rows in other folds, nearest first.
std::vector<std::vector<int64_t>> OutOfFoldNeighbours(const std::vector<double>& distances, int64_t n,
                                                      const std::vector<int>& folds, int k) {
  std::vector<std::vector<int64_t>> neighbours(static_cast<size_t>(n));
  std::vector<int64_t> candidates;
  for (int64_t i = 0; i < n; ++i) {
    candidates.clear();
    for (int64_t j = 0; j < n; ++j) {
      if (folds[j] != folds[i]) candidates.push_back(j);
    }
    const size_t keep = std::min(candidates.size(), static_cast<size_t>(k));
    const double* row = distances.data() + i * n;
    std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end(),
                      [row](int64_t a, int64_t b) { return row[a] < row[b] || (row[a] == row[b] && a < b); });
    neighbours[i].assign(candidates.begin(), candidates.begin() + keep);
  }
  return neighbours;
}

}  // namespace

absl::StatusOr<std::vector<int>> StratifiedFolds(const std::vector<int64_t>& labels, int folds, uint64_t seed) {
  if (folds < 2) return absl::InvalidArgumentError(absl::StrCat("folds must be >= 2, got ", folds));
  std::map<int64_t, std::vector<int64_t>> by_label;
  for (size_t i = 0; i < labels.size(); ++i) by_label[labels[i]].push_back(static_cast<int64_t>(i));
  std::mt19937_64 generator(seed);
  std::vector<int> assignment(labels.size(), 0);
  int next = 0;  // continue the round-robin across labels so small labels do not all start at fold 0
  for (auto& [label, members] : by_label) {
    std::shuffle(members.begin(), members.end(), generator);
    for (int64_t member : members) {
      assignment[static_cast<size_t>(member)] = next;
      next = (next + 1) % folds;
    }
  }
  return assignment;
}

absl::StatusOr<double> RocAuc(const std::vector<double>& scores, const std::vector<bool>& positive) {
  if (scores.size() != positive.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("auc: ", scores.size(), " scores but ", positive.size(), " labels"));
  }
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0.0, n_positive = 0.0;
  for (size_t start = 0; start < order.size();) {
    size_t end = start;
    while (end < order.size() && scores[order[end]] == scores[order[start]]) ++end;
    const double average_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (size_t i = start; i < end; ++i) {
      if (positive[order[i]]) {
        positive_rank_sum += average_rank;
        n_positive += 1.0;
      }
    }
    start = end;
  }
  const double n_negative = static_cast<double>(scores.size()) - n_positive;
  if (n_positive == 0.0) return absl::InvalidArgumentError("auc: no positive examples");
  if (n_negative == 0.0) return absl::InvalidArgumentError("auc: no negative examples");
  return (positive_rank_sum - n_positive * (n_positive + 1.0) / 2.0) / (n_positive * n_negative);
}

absl::StatusOr<double> RealVsGeneratedAuc(const DenseMatrix& real, const DenseMatrix& generated,
                                          const KnnOptions& options) {
  GENAILAB_RETURN_IF_ERROR(CheckOptions(options, std::min(real.rows, generated.rows)));
  if (real.cols != generated.cols) {
    return absl::InvalidArgumentError(
        absl::StrCat("real has ", real.cols, " columns but generated has ", generated.cols));
  }
  DenseMatrix pooled(real.rows + generated.rows, real.cols);
  std::copy(real.values.begin(), real.values.end(), pooled.values.begin());
  std::copy(generated.values.begin(), generated.values.end(), pooled.values.begin() + real.values.size());
  std::vector<int64_t> labels(static_cast<size_t>(pooled.rows), 0);
  std::fill(labels.begin() + real.rows, labels.end(), 1);
  GENAILAB_ASSIGN_OR_RETURN(std::vector<int> folds, StratifiedFolds(labels, options.folds, options.seed));
  GENAILAB_ASSIGN_OR_RETURN(std::vector<double> distances, SquaredDistances(pooled, pooled, "cells"));
  const std::vector<std::vector<int64_t>> neighbours =
      OutOfFoldNeighbours(distances, pooled.rows, folds, options.k);
  std::vector<double> scores(static_cast<size_t>(pooled.rows), 0.0);
  std::vector<bool> is_generated(static_cast<size_t>(pooled.rows), false);
  for (int64_t i = 0; i < pooled.rows; ++i) {
    double generated_neighbours = 0.0;
    for (int64_t j : neighbours[i]) generated_neighbours += labels[j];
    scores[i] = generated_neighbours / static_cast<double>(neighbours[i].size());
    is_generated[i] = labels[i] == 1;
  }
  return RocAuc(scores, is_generated);
}

absl::StatusOr<double> KnnLabelAccuracy(const DenseMatrix& latent, const std::vector<std::string>& labels,
                                        const KnnOptions& options) {
  GENAILAB_RETURN_IF_ERROR(latent.Validate("latent"));
  if (static_cast<int64_t>(labels.size()) != latent.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("labels: ", labels.size(), " labels for ", latent.rows, " cells"));
  }
  GENAILAB_RETURN_IF_ERROR(CheckOptions(options, latent.rows));
  std::map<std::string, int64_t> codes;
  std::vector<int64_t> coded;
  coded.reserve(labels.size());
  for (const std::string& label : labels) {
    coded.push_back(codes.emplace(label, static_cast<int64_t>(codes.size())).first->second);
  }
  GENAILAB_ASSIGN_OR_RETURN(std::vector<int> folds, StratifiedFolds(coded, options.folds, options.seed));
  GENAILAB_ASSIGN_OR_RETURN(std::vector<double> distances, SquaredDistances(latent, latent, "latent"));
  const std::vector<std::vector<int64_t>> neighbours =
      OutOfFoldNeighbours(distances, latent.rows, folds, options.k);
  int64_t correct = 0;
  for (int64_t i = 0; i < latent.rows; ++i) {
    // label -> (votes, -total distance): more votes win, then the nearer group.
    std::map<int64_t, std::pair<int, double>> votes;
    for (int64_t j : neighbours[i]) {
      auto& [count, negative_distance] = votes[coded[j]];
      ++count;
      negative_distance -= distances[static_cast<size_t>(i * latent.rows + j)];
    }
    const auto best = std::max_element(votes.begin(), votes.end(), [](const auto& a, const auto& b) {
      return a.second < b.second;
    });
    if (best != votes.end() && best->first == coded[i]) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(latent.rows);
}

}  // namespace genailab
