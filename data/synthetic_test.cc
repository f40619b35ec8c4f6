#include "data/synthetic.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "data/preprocessing.h"
#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

SyntheticOptions SmallOptions() {
  SyntheticOptions options;
  options.n_genes = 100;
  options.n_cell_types = 3;
  options.n_batches = 2;
  options.cells_per_group = 40;
  options.seed = 7;
  return options;
}

TEST(SyntheticTest, ShapeAndColumns) {
  absl::StatusOr<AnnData> data = GenerateSyntheticDataset(SmallOptions());
  ASSERT_THAT(data, IsOk());
  EXPECT_THAT(data->Validate(), IsOk());
  EXPECT_EQ(data->n_obs(), 3 * 2 * 2 * 40);
  EXPECT_EQ(data->n_vars(), 100);
  EXPECT_EQ(data->var_names[0], "gene_0000");
  EXPECT_EQ(data->var_names[99], "gene_0099");
  EXPECT_EQ(data->obs_names[0], "cell_000000");
  std::map<std::string, int> per_group;
  for (int64_t i = 0; i < data->n_obs(); ++i) {
    ++per_group[data->obs.at("cell_type")[i] + "/" + data->obs.at("condition")[i] + "/" +
                data->obs.at("batch")[i]];
  }
  EXPECT_EQ(per_group.size(), 12u);
  EXPECT_EQ(per_group["type_2/stimulated/batch_1"], 40);
  EXPECT_EQ(per_group["type_0/control/batch_0"], 40);

  const std::vector<float> sums = RowSums(data->x);
  const std::vector<double>& n_counts = data->obs_numeric.at("n_counts");
  double mean_library = 0;
  for (int64_t i = 0; i < data->n_obs(); ++i) {
    EXPECT_EQ(n_counts[i], sums[i]);
    mean_library += n_counts[i] / data->n_obs();
  }
  EXPECT_NEAR(mean_library, 5000, 500);
  for (float v : data->x.values) ASSERT_EQ(v, std::floor(v));  // integer counts

  const DenseMatrix& truth = data->varm.at("true_log_fold_change");
  EXPECT_EQ(truth.rows, 100);
  EXPECT_EQ(truth.cols, 3);
  EXPECT_THAT(data->uns_strings.at("true_log_fold_change_cell_types"),
              ElementsAre("type_0", "type_1", "type_2"));
}

TEST(SyntheticTest, DeterministicGivenSeed) {
  absl::StatusOr<AnnData> a = GenerateSyntheticDataset(SmallOptions());
  absl::StatusOr<AnnData> b = GenerateSyntheticDataset(SmallOptions());
  SyntheticOptions other = SmallOptions();
  other.seed = 8;
  absl::StatusOr<AnnData> c = GenerateSyntheticDataset(other);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(a->x.values, b->x.values);
  EXPECT_EQ(a->varm.at("true_log_fold_change").values, b->varm.at("true_log_fold_change").values);
  EXPECT_NE(a->x.values, c->x.values);
  EXPECT_NE(a->varm.at("true_log_fold_change").values, c->varm.at("true_log_fold_change").values);
}

double Pearson(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    mx += x[i] / x.size();
    my += y[i] / y.size();
  }
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

// The stored truth is what the data shows: the empirical log fold change of normalized per-gene means
// (stimulated over control, within one cell type) tracks it over the responding genes.
TEST(SyntheticTest, EmpiricalLogFoldChangeMatchesTruth) {
  SyntheticOptions options = SmallOptions();
  options.cells_per_group = 150;
  absl::StatusOr<AnnData> data = GenerateSyntheticDataset(options);
  ASSERT_THAT(data, IsOk());
  DenseMatrix normalized = data->x;
  NormalizeTotal(&normalized, 1e4);
  const int type_column = 1;
  std::vector<double> control_mean(options.n_genes, 0), stimulated_mean(options.n_genes, 0);
  int n_control = 0, n_stimulated = 0;
  for (int64_t i = 0; i < data->n_obs(); ++i) {
    if (data->obs.at("cell_type")[i] != "type_1") continue;
    const bool stimulated = data->obs.at("condition")[i] == "stimulated";
    std::vector<double>& mean = stimulated ? stimulated_mean : control_mean;
    (stimulated ? n_stimulated : n_control)++;
    for (int g = 0; g < options.n_genes; ++g) mean[g] += normalized.at(i, g);
  }
  ASSERT_EQ(n_control, 300);
  ASSERT_EQ(n_stimulated, 300);
  const DenseMatrix& truth = data->varm.at("true_log_fold_change");
  // Non-responding genes (the majority) all carry the same small renormalization shift: the median.
  std::vector<float> column;
  for (int g = 0; g < options.n_genes; ++g) column.push_back(truth.at(g, type_column));
  std::nth_element(column.begin(), column.begin() + column.size() / 2, column.end());
  const double shift = column[column.size() / 2];
  EXPECT_LT(std::abs(shift), 0.3);
  std::vector<double> empirical, expected;
  for (int g = 0; g < options.n_genes; ++g) {
    if (std::abs(truth.at(g, type_column) - shift) < 0.3) continue;
    const double pseudo = 1e-3 * n_control;
    empirical.push_back(std::log((stimulated_mean[g] + pseudo) / (control_mean[g] + pseudo)));
    expected.push_back(truth.at(g, type_column));
  }
  // Shared (20) plus type-specific (10) responding genes.
  EXPECT_GE(empirical.size(), 25u);
  EXPECT_LE(empirical.size(), 30u);
  EXPECT_GT(Pearson(empirical, expected), 0.9);
}

TEST(SyntheticTest, ResponseIsStateIndependentByDefault) {
  absl::StatusOr<AnnData> data = GenerateSyntheticDataset(SmallOptions());
  ASSERT_THAT(data, IsOk());
  EXPECT_EQ(data->obs_numeric.count("responsiveness"), 0u);
}

// The cell-state-dependent response: per-type mean responsiveness spread evenly, a receptor program that
// shows it, responses that scale with it within and across types, and a truth that still matches the data.
TEST(SyntheticTest, StateDependentResponseFollowsResponsiveness) {
  SyntheticOptions options = SmallOptions();
  options.cells_per_group = 150;
  options.n_responsiveness_genes = 10;
  options.responsiveness_type_spread = 1.0;
  options.responsiveness_cell_sd = 0.5;
  absl::StatusOr<AnnData> data = GenerateSyntheticDataset(options);
  ASSERT_THAT(data, IsOk());
  ASSERT_THAT(data->Validate(), IsOk());
  const std::vector<double>& u = data->obs_numeric.at("responsiveness");
  ASSERT_EQ(static_cast<int64_t>(u.size()), data->n_obs());
  const int n_types = options.n_cell_types;
  auto type_of = [&](int64_t i) { return data->obs.at("cell_type")[i].back() - '0'; };
  auto stimulated = [&](int64_t i) { return data->obs.at("condition")[i] == "stimulated"; };

  // Per-type means near {-1, 0, +1}, one each.
  std::vector<double> type_mean(n_types, 0.0);
  for (int64_t i = 0; i < data->n_obs(); ++i) type_mean[type_of(i)] += u[i] / (4.0 * options.cells_per_group);
  std::vector<double> sorted = type_mean;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NEAR(sorted[0], -1.0, 0.1);
  EXPECT_NEAR(sorted[1], 0.0, 0.1);
  EXPECT_NEAR(sorted[2], 1.0, 0.1);

  DenseMatrix normalized = data->x;
  NormalizeTotal(&normalized, 1e4);
  const DenseMatrix& truth = data->varm.at("true_log_fold_change");
  // Per type: empirical log fold change of the means against the truth, on the responding genes.
  std::vector<double> shared_response(n_types, 0.0);
  for (int t = 0; t < n_types; ++t) {
    std::vector<double> control(options.n_genes, 0), treated(options.n_genes, 0);
    for (int64_t i = 0; i < data->n_obs(); ++i) {
      if (type_of(i) != t) continue;
      std::vector<double>& mean = stimulated(i) ? treated : control;
      for (int g = 0; g < options.n_genes; ++g) mean[g] += normalized.at(i, g);
    }
    std::vector<double> empirical, expected;
    for (int g = 0; g < options.n_genes; ++g) {
      if (std::abs(truth.at(g, t)) < 0.3) continue;
      const double pseudo = 1e-3 * 2 * options.cells_per_group;
      empirical.push_back(std::log((treated[g] + pseudo) / (control[g] + pseudo)));
      expected.push_back(truth.at(g, t));
    }
    EXPECT_GT(Pearson(empirical, expected), 0.9) << "type_" << t;
    // Mean |truth| over the genes that respond in every type: the shared program.
    int n_shared = 0;
    for (int g = 0; g < options.n_genes; ++g) {
      bool everywhere = true;
      for (int k = 0; k < n_types; ++k) everywhere = everywhere && std::abs(truth.at(g, k)) > 0.3;
      if (!everywhere) continue;
      shared_response[t] += std::abs(truth.at(g, t));
      ++n_shared;
    }
    ASSERT_GT(n_shared, 10);
    shared_response[t] /= n_shared;
  }
  // The more responsive the type, the stronger its shared-program response.
  const int low = std::min_element(type_mean.begin(), type_mean.end()) - type_mean.begin();
  const int high = std::max_element(type_mean.begin(), type_mean.end()) - type_mean.begin();
  EXPECT_GT(shared_response[high], 1.3 * shared_response[low]);

  // The receptor program makes u visible: about n_responsiveness_genes genes correlate with it.
  std::vector<double> state;
  for (int64_t i = 0; i < data->n_obs(); ++i) {
    if (stimulated(i) || type_of(i) != 0) continue;
    state.push_back(u[i]);
  }
  // The receptor genes are the ones whose expression follows u among type_0's control cells.
  std::vector<double> best(options.n_genes, 0.0);
  for (int g = 0; g < options.n_genes; ++g) {
    std::vector<double> expression;
    for (int64_t i = 0; i < data->n_obs(); ++i) {
      if (stimulated(i) || type_of(i) != 0) continue;
      expression.push_back(std::log1p(normalized.at(i, g)));
    }
    best[g] = Pearson(expression, state);
  }
  int strongly_correlated = 0;
  for (double r : best) strongly_correlated += r > 0.3;
  EXPECT_GE(strongly_correlated, 8);
  EXPECT_LE(strongly_correlated, 12);
}

TEST(SyntheticTest, RejectsOutOfRangeOptionsNamingThem) {
  SyntheticOptions options = SmallOptions();
  options.n_genes = 0;
  EXPECT_THAT(GenerateSyntheticDataset(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SyntheticOptions.n_genes")));
  options = SmallOptions();
  options.n_shared_response_genes = 95;
  EXPECT_THAT(GenerateSyntheticDataset(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("n_specific_response_genes")));
  options = SmallOptions();
  options.conditions = {"ctrl"};
  EXPECT_THAT(GenerateSyntheticDataset(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SyntheticOptions.conditions")));
  options = SmallOptions();
  options.nb_dispersion = 0;
  EXPECT_THAT(GenerateSyntheticDataset(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nb_dispersion")));
  options = SmallOptions();
  options.mean_library_size = std::nan("");
  EXPECT_THAT(GenerateSyntheticDataset(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("mean_library_size")));
  options = SmallOptions();
  options.n_responsiveness_genes = 100;
  EXPECT_THAT(GenerateSyntheticDataset(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SyntheticOptions.n_responsiveness_genes")));
  options = SmallOptions();
  options.responsiveness_type_spread = -1;
  EXPECT_THAT(GenerateSyntheticDataset(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("responsiveness_type_spread")));
}

}  // namespace
}  // namespace genailab
