// k-nearest-neighbour metrics under stratified k-fold cross-validation (Euclidean distance):
//   * the real-vs-generated classifier AUC: 0.5 when the generated cells cannot be told from the real
//     ones, 1 when every cell is recognized; well BELOW 0.5 when generated cells are copies of the real
//     ones (each cell's twin sits in the other class), a memorization signal;
//   * the cell-type (or any label) accuracy of a latent space by majority vote of the k neighbours.
// Stateless functions; thread-safe. Cost O(n^2 * cols): subsample large sets first (SubsampleRows).
#ifndef GENAILAB_EVAL_KNN_METRICS_H_
#define GENAILAB_EVAL_KNN_METRICS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"

namespace genailab {

struct KnnOptions {
  int k = 5;        // neighbours
  int folds = 5;    // stratified folds
  uint64_t seed = 0;  // fold assignment
};

// Fold of each item (0 .. folds-1): items of each label are shuffled (seeded) and dealt round-robin, so
// every fold holds a near-equal share of every label. INVALID_ARGUMENT if folds < 2.
absl::StatusOr<std::vector<int>> StratifiedFolds(const std::vector<int64_t>& labels, int folds, uint64_t seed);

// Area under the ROC curve of scores for positives vs negatives (ties count half), i.e. U / (n_pos n_neg).
// INVALID_ARGUMENT if a class is empty or the sizes differ.
absl::StatusOr<double> RocAuc(const std::vector<double>& scores, const std::vector<bool>& positive);

// Out-of-fold score of each cell = the fraction of its k nearest training cells that are generated;
// returns the ROC AUC of those scores with "generated" as the positive class. INVALID_ARGUMENT if either
// set has fewer than `folds` cells, columns differ, or k / folds are out of range.
absl::StatusOr<double> RealVsGeneratedAuc(const DenseMatrix& real, const DenseMatrix& generated,
                                          const KnnOptions& options = {});

// Out-of-fold k-NN majority-vote accuracy of `labels` (one per row of `latent`). Ties go to the label
// whose tied neighbours are nearer in total. INVALID_ARGUMENT if the sizes differ, there are fewer rows
// than folds, or k / folds are out of range.
absl::StatusOr<double> KnnLabelAccuracy(const DenseMatrix& latent, const std::vector<std::string>& labels,
                                        const KnnOptions& options = {});

}  // namespace genailab

#endif  // GENAILAB_EVAL_KNN_METRICS_H_
