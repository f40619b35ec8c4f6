#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

// The generative model (all logs natural):
//   logit[t, c, b, g] = base[g] + marker[t, g] + batch[b, g] + (c is stimulated ? response[t, g] : 0)
//   p[t, c, b, :]     = softmax(logit[t, c, b, :])
//   library[cell]     ~ LogNormal(log(mean_library_size) - s^2 / 2, s),  s = kLibrarySizeLogSd
//   count[cell, g]    ~ Poisson(Gamma(shape = theta, scale = library * p / theta))   (NB(mean, theta))
// The stored truth is log(p_stimulated / p_control) averaged over batches: the exact log fold change of
// the expected normalized expression, i.e. response[t, g] minus the small shift that renormalization
// applies to every gene.
// With a cell-state-dependent response (n_responsiveness_genes > 0), each cell draws u = m[t] + N(0, sd)
// and its logits become
//   base[g] + marker[t, g] + batch[b, g] + receptor[g] * u + (stimulated ? 2 sigmoid(u) response[t, g] : 0)
// with receptor[g] = kReceptorLogShift on the receptor program's genes (none of which respond); the truth
// is then log(mean over the type's stimulated cells of p / the same over its control cells).
constexpr double kBaseLogMeanSd = 1.0;
constexpr int kMarkerGenesPerType = 10;
constexpr double kMarkerLogShift = 1.5;
constexpr double kMarkerLogShiftSd = 0.25;
constexpr double kLibrarySizeLogSd = 0.3;
// Shared-program genes respond with a per-gene magnitude in [0.7, 1.3] x response_log_fold_change,
// varied per cell type by a factor 1 + N(0, kSharedPerTypeSd).
constexpr double kSharedPerTypeSd = 0.15;
// With a cell-state-dependent response: the receptor program's logit shift per unit of responsiveness.
constexpr double kReceptorLogShift = 1.0;

absl::Status CheckOptions(const SyntheticOptions& o) {
  auto bad = [](const std::string& name, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("SyntheticOptions.", name, ": ", why));
  };
  if (o.n_genes < 1) return bad("n_genes", absl::StrCat("must be >= 1, got ", o.n_genes));
  if (o.n_cell_types < 1) return bad("n_cell_types", absl::StrCat("must be >= 1, got ", o.n_cell_types));
  if (o.n_batches < 1) return bad("n_batches", absl::StrCat("must be >= 1, got ", o.n_batches));
  if (o.cells_per_group < 1) {
    return bad("cells_per_group", absl::StrCat("must be >= 1, got ", o.cells_per_group));
  }
  if (o.conditions.size() != 2) {
    return bad("conditions", absl::StrCat("need exactly 2 (control, stimulus), got ", o.conditions.size()));
  }
  if (o.conditions[0].empty() || o.conditions[1].empty() || o.conditions[0] == o.conditions[1]) {
    return bad("conditions", "names must be non-empty and distinct");
  }
  if (o.n_shared_response_genes < 0 || o.n_shared_response_genes > o.n_genes) {
    return bad("n_shared_response_genes",
               absl::StrCat("must be in [0, n_genes = ", o.n_genes, "], got ", o.n_shared_response_genes));
  }
  if (o.n_specific_response_genes < 0 ||
      o.n_specific_response_genes > o.n_genes - o.n_shared_response_genes) {
    return bad("n_specific_response_genes",
               absl::StrCat("must be in [0, n_genes - n_shared_response_genes = ",
                            o.n_genes - o.n_shared_response_genes, "], got ", o.n_specific_response_genes));
  }
  if (!(o.response_log_fold_change >= 0) || !std::isfinite(o.response_log_fold_change)) {
    return bad("response_log_fold_change", "must be finite and >= 0");
  }
  if (!(o.batch_effect_sd >= 0) || !std::isfinite(o.batch_effect_sd)) {
    return bad("batch_effect_sd", "must be finite and >= 0");
  }
  if (!(o.mean_library_size > 0) || !std::isfinite(o.mean_library_size)) {
    return bad("mean_library_size", "must be finite and > 0");
  }
  if (!(o.nb_dispersion > 0) || !std::isfinite(o.nb_dispersion)) {
    return bad("nb_dispersion", "must be finite and > 0");
  }
  if (o.n_responsiveness_genes < 0 ||
      o.n_responsiveness_genes > o.n_genes - o.n_shared_response_genes -
                                     o.n_cell_types * o.n_specific_response_genes) {
    return bad("n_responsiveness_genes",
               absl::StrCat("must be in [0, n_genes - n_shared_response_genes - n_cell_types * "
                            "n_specific_response_genes], got ", o.n_responsiveness_genes));
  }
  if (!(o.responsiveness_type_spread >= 0) || !std::isfinite(o.responsiveness_type_spread)) {
    return bad("responsiveness_type_spread", "must be finite and >= 0");
  }
  if (!(o.responsiveness_cell_sd >= 0) || !std::isfinite(o.responsiveness_cell_sd)) {
    return bad("responsiveness_cell_sd", "must be finite and >= 0");
  }
  const int64_t n_cells = int64_t{o.n_cell_types} * 2 * o.n_batches * o.cells_per_group;
  if (n_cells * o.n_genes > (int64_t{1} << 31)) {
    return bad("cells_per_group",
               absl::StrCat("the dataset would hold ", n_cells, " x ", o.n_genes, " values, more than 2^31"));
  }
  return absl::OkStatus();
}

// `count` distinct genes drawn from `pool` (which is reordered).
std::vector<int> Draw(std::vector<int>* pool, int count, std::mt19937_64* rng) {
  std::shuffle(pool->begin(), pool->end(), *rng);
  return std::vector<int>(pool->begin(), pool->begin() + std::min<size_t>(count, pool->size()));
}

// log(sum(exp(logits)))
double LogSumExp(const std::vector<double>& logits) {
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (double v : logits) sum += std::exp(v - max);
  return max + std::log(sum);
}

// Negative binomial with mean `mean` and inverse dispersion `theta`, as a Gamma-Poisson mixture.
double SampleNegativeBinomial(double mean, double theta, std::mt19937_64* rng) {
  if (mean <= 0) return 0;
  std::gamma_distribution<double> gamma(theta, mean / theta);
  const double rate = gamma(*rng);
  if (rate <= 0) return 0;
  std::poisson_distribution<int64_t> poisson(rate);
  return static_cast<double>(poisson(*rng));
}

}  // namespace

absl::StatusOr<AnnData> GenerateSyntheticDataset(const SyntheticOptions& options) {
  GENAILAB_RETURN_IF_ERROR(CheckOptions(options));
  const int n_genes = options.n_genes;
  const int n_types = options.n_cell_types;
  const int n_batches = options.n_batches;
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  auto random_sign = [&]() { return uniform(rng) < 0.5 ? -1.0 : 1.0; };

  std::vector<double> base(n_genes);
  for (double& v : base) v = kBaseLogMeanSd * normal(rng);

  std::vector<int> all_genes(n_genes);
  std::iota(all_genes.begin(), all_genes.end(), 0);

  // marker[t][g]: each type's own highly expressed genes.
  std::vector<std::vector<double>> marker(n_types, std::vector<double>(n_genes, 0.0));
  for (int t = 0; t < n_types; ++t) {
    for (int g : Draw(&all_genes, kMarkerGenesPerType, &rng)) {
      marker[t][g] = kMarkerLogShift + kMarkerLogShiftSd * normal(rng);
    }
  }

  std::vector<std::vector<double>> batch(n_batches, std::vector<double>(n_genes, 0.0));
  for (auto& shifts : batch) {
    for (double& v : shifts) v = options.batch_effect_sd * normal(rng);
  }

  // response[t][g]: the shared program (same genes and signs, per-type magnitude) plus each type's own.
  std::vector<std::vector<double>> response(n_types, std::vector<double>(n_genes, 0.0));
  const double lfc = options.response_log_fold_change;
  const std::vector<int> shared = Draw(&all_genes, options.n_shared_response_genes, &rng);
  for (int g : shared) {
    const double magnitude = random_sign() * lfc * (0.7 + 0.6 * uniform(rng));
    for (int t = 0; t < n_types; ++t) response[t][g] = magnitude * (1.0 + kSharedPerTypeSd * normal(rng));
  }
  const std::set<int> shared_set(shared.begin(), shared.end());
  std::vector<int> non_shared;
  for (int g = 0; g < n_genes; ++g) {
    if (shared_set.count(g) == 0) non_shared.push_back(g);
  }
  for (int t = 0; t < n_types; ++t) {
    for (int g : Draw(&non_shared, options.n_specific_response_genes, &rng)) {
      response[t][g] = random_sign() * lfc * (0.5 + uniform(rng));
    }
  }

  // The receptor program and each type's mean responsiveness (drawn only when the option is on, so the
  // default dataset of a seed stays what it was).
  const bool state_dependent = options.n_responsiveness_genes > 0;
  std::vector<double> receptor(n_genes, 0.0);
  std::vector<double> type_responsiveness(n_types, 0.0);
  if (state_dependent) {
    std::vector<int> silent;
    for (int g = 0; g < n_genes; ++g) {
      bool responds = false;
      for (int t = 0; t < n_types; ++t) responds = responds || response[t][g] != 0.0;
      if (!responds) silent.push_back(g);
    }
    for (int g : Draw(&silent, options.n_responsiveness_genes, &rng)) receptor[g] = kReceptorLogShift;
    std::vector<int> order(n_types);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (int i = 0; i < n_types; ++i) {
      type_responsiveness[order[i]] =
          n_types == 1 ? 0.0
                       : options.responsiveness_type_spread * (-1.0 + 2.0 * i / static_cast<double>(n_types - 1));
    }
  }

  const int64_t n_cells = int64_t{n_types} * 2 * n_batches * options.cells_per_group;
  AnnData data;
  data.x = DenseMatrix(n_cells, n_genes);
  for (int g = 0; g < n_genes; ++g) data.var_names.push_back(absl::StrFormat("gene_%04d", g));
  std::vector<std::string>& cell_type = data.obs["cell_type"];
  std::vector<std::string>& condition = data.obs["condition"];
  std::vector<std::string>& batch_name = data.obs["batch"];
  std::vector<double>& n_counts = data.obs_numeric["n_counts"];
  std::vector<double>* responsiveness = state_dependent ? &data.obs_numeric["responsiveness"] : nullptr;
  DenseMatrix truth(n_genes, n_types);
  // State-dependent truth: per type and condition, the sum over cells of the expected proportions p.
  std::vector<std::vector<std::vector<double>>> p_sum;
  if (state_dependent) {
    p_sum.assign(n_types, std::vector<std::vector<double>>(2, std::vector<double>(n_genes, 0.0)));
  }

  const double library_log_mean =
      std::log(options.mean_library_size) - 0.5 * kLibrarySizeLogSd * kLibrarySizeLogSd;
  std::vector<double> logits(n_genes);
  std::vector<double> cell_logits(n_genes);
  int64_t cell = 0;
  for (int t = 0; t < n_types; ++t) {
    for (int c = 0; c < 2; ++c) {
      for (int b = 0; b < n_batches; ++b) {
        for (int g = 0; g < n_genes; ++g) {
          logits[g] = base[g] + marker[t][g] + batch[b][g] + (c == 1 ? response[t][g] : 0.0);
        }
        double log_normalizer = LogSumExp(logits);
        if (!state_dependent) {
          // truth += (log p_stim - log p_ctrl) / n_batches, accumulated over both conditions.
          const double sign = c == 1 ? 1.0 : -1.0;
          for (int g = 0; g < n_genes; ++g) {
            truth.at(g, t) += static_cast<float>(sign * (logits[g] - log_normalizer) / n_batches);
          }
        }
        for (int i = 0; i < options.cells_per_group; ++i, ++cell) {
          const double* cell_logit = logits.data();
          if (state_dependent) {
            const double u = type_responsiveness[t] + options.responsiveness_cell_sd * normal(rng);
            const double scale = 2.0 / (1.0 + std::exp(-u));
            for (int g = 0; g < n_genes; ++g) {
              cell_logits[g] = base[g] + marker[t][g] + batch[b][g] + receptor[g] * u +
                               (c == 1 ? scale * response[t][g] : 0.0);
            }
            log_normalizer = LogSumExp(cell_logits);
            for (int g = 0; g < n_genes; ++g) p_sum[t][c][g] += std::exp(cell_logits[g] - log_normalizer);
            responsiveness->push_back(u);
            cell_logit = cell_logits.data();
          }
          const double library = std::exp(library_log_mean + kLibrarySizeLogSd * normal(rng));
          float* row = data.x.row(cell);
          double total = 0;
          for (int g = 0; g < n_genes; ++g) {
            const double mean = library * std::exp(cell_logit[g] - log_normalizer);
            row[g] = static_cast<float>(SampleNegativeBinomial(mean, options.nb_dispersion, &rng));
            total += row[g];
          }
          data.obs_names.push_back(absl::StrFormat("cell_%06d", cell));
          cell_type.push_back(absl::StrCat("type_", t));
          condition.push_back(options.conditions[c]);
          batch_name.push_back(absl::StrCat("batch_", b));
          n_counts.push_back(total);
        }
      }
    }
  }
  if (state_dependent) {
    for (int t = 0; t < n_types; ++t) {
      for (int g = 0; g < n_genes; ++g) {
        truth.at(g, t) = static_cast<float>(std::log(p_sum[t][1][g]) - std::log(p_sum[t][0][g]));
      }
    }
  }

  data.varm["true_log_fold_change"] = std::move(truth);
  std::vector<std::string>& labels = data.uns_strings["true_log_fold_change_cell_types"];
  for (int t = 0; t < n_types; ++t) labels.push_back(absl::StrCat("type_", t));
  return data;
}

}  // namespace genailab
