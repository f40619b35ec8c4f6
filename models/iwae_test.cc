// The importance-weighted bound against mathematics with a known answer: a VAE with no hidden layers and
// a Gaussian likelihood is a linear-Gaussian model, x = W z + b + e, e ~ N(0, diag(s^2)), whose exact
// log-likelihood is log N(x; b, W W^T + diag(s^2)).
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <memory>
#include <string>

#include "data/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/vae_model.h"
#include "models/vae_module.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kGenes = 4;
constexpr int64_t kLatent = 2;
constexpr int64_t kCells = 16;

VaeModule LinearGaussianModule() {
  torch::manual_seed(3);
  VaeModuleOptions options;
  options.n_genes = kGenes;
  options.latent_dim = kLatent;
  options.hidden_dims = {};
  VaeModule module(options);
  module->eval();
  return module;
}

torch::Tensor Cells() {
  torch::manual_seed(11);
  return torch::randn({kCells, kGenes});
}

// Exact log p(x) per cell of the linear-Gaussian model the module defines.
torch::Tensor ExactLogLikelihood(VaeModule& module, const torch::Tensor& x) {
  torch::Tensor weight, bias, log_variance;
  for (const auto& parameter : module->named_parameters()) {
    if (parameter.key() == "decoder_output.weight") weight = parameter.value();
    if (parameter.key() == "decoder_output.bias") bias = parameter.value();
    if (parameter.key() == "gene_log_variance") log_variance = parameter.value();
  }
  torch::Tensor covariance = torch::matmul(weight, weight.t()) + torch::diag(torch::exp(log_variance));
  torch::Tensor cholesky = torch::linalg_cholesky(covariance);
  torch::Tensor centered = (x - bias).t();                                        // genes x cells
  torch::Tensor solved = torch::linalg_solve_triangular(cholesky, centered, /*upper=*/false);
  torch::Tensor mahalanobis = solved.pow(2).sum(0);                               // cells
  const double log_det = 2.0 * torch::log(torch::diagonal(cholesky)).sum().item<double>();
  return -0.5 * (mahalanobis + log_det + kGenes * std::log(2.0 * M_PI));
}

torch::Tensor LogWeights(VaeModule& module, const torch::Tensor& x, int64_t samples, uint64_t seed) {
  torch::NoGradGuard no_grad;
  return module->LogImportanceWeights(x, torch::Tensor(), x, torch::Tensor(), samples,
                                      at::detail::createCPUGenerator(seed));
}

TEST(ImportanceWeightedBoundTest, OneSampleEqualsTheElbo) {
  VaeModule module = LinearGaussianModule();
  const torch::Tensor log_weights = LogWeights(module, Cells(), 1, 5);
  ASSERT_EQ(log_weights.sizes(), (std::vector<int64_t>{1, kCells}));
  EXPECT_TRUE(torch::allclose(ImportanceWeightedBound(log_weights), MonteCarloElbo(log_weights), 0.0, 1e-6));
}

TEST(ImportanceWeightedBoundTest, NeverBelowTheElboOfTheSameDraws) {
  VaeModule module = LinearGaussianModule();
  const torch::Tensor log_weights = LogWeights(module, Cells(), 32, 5);
  const torch::Tensor gap = ImportanceWeightedBound(log_weights) - MonteCarloElbo(log_weights);
  EXPECT_GE(gap.min().item<double>(), 0.0);  // Jensen, draw by draw
  EXPECT_GT(gap.mean().item<double>(), 0.05);  // and not trivially: the posterior is not exact
}

TEST(ImportanceWeightedBoundTest, AboveAnIndependentElboAndBelowTheExactLikelihood) {
  VaeModule module = LinearGaussianModule();
  const torch::Tensor x = Cells();
  const double exact = ExactLogLikelihood(module, x).mean().item<double>();
  // Each estimate averages 16 cells x thousands of draws: its Monte-Carlo error is far below the gaps.
  const double elbo = MonteCarloElbo(LogWeights(module, x, 4000, 1)).mean().item<double>();
  const double iwae_8 = ImportanceWeightedBound(LogWeights(module, x, 8, 2)).mean().item<double>();
  const double iwae_4000 = ImportanceWeightedBound(LogWeights(module, x, 4000, 3)).mean().item<double>();
  EXPECT_GT(iwae_8, elbo + 0.05) << "elbo " << elbo << " exact " << exact;
  EXPECT_GT(iwae_4000, iwae_8);
  EXPECT_LT(elbo, exact);
  EXPECT_LT(iwae_4000, exact + 0.01);
  EXPECT_NEAR(iwae_4000, exact, 0.1 * (exact - elbo)) << "elbo " << elbo;  // K -> inf closes the gap
}

ModelManifest LinearManifest() {
  ModelManifest manifest;
  manifest.name = "linear";
  manifest.model_type = "vae";
  manifest.likelihood = kGaussianLikelihood;
  manifest.latent_dim = kLatent;
  manifest.hidden_dims = {};
  for (int64_t g = 0; g < kGenes; ++g) manifest.gene_names.push_back("g" + std::to_string(g));
  return manifest;
}

DenseMatrix ToMatrix(const torch::Tensor& tensor) { return TensorToMatrix(tensor); }

TEST(EstimateLikelihoodBoundsTest, ReportsBoundsDeterministicallyPerSeed) {
  absl::StatusOr<std::unique_ptr<VaeModel>> model =
      VaeModel::Create(LinearManifest(), LinearGaussianModule(), torch::Device(torch::kCPU));
  ASSERT_THAT(model, IsOk());
  const DenseMatrix x = ToMatrix(Cells());
  LikelihoodBoundOptions options;
  options.samples = 16;
  options.seed = 9;
  options.batch_size = 5;  // several batches
  absl::StatusOr<LikelihoodBounds> bounds = (*model)->EstimateLikelihoodBounds(x, DenseMatrix(), {}, options);
  ASSERT_THAT(bounds, IsOk());
  EXPECT_EQ(bounds->cells, kCells);
  EXPECT_EQ(bounds->samples, 16);
  EXPECT_GT(bounds->iwae, bounds->elbo);
  absl::StatusOr<LikelihoodBounds> again = (*model)->EstimateLikelihoodBounds(x, DenseMatrix(), {}, options);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->iwae, bounds->iwae);
  options.samples = 1;
  absl::StatusOr<LikelihoodBounds> one = (*model)->EstimateLikelihoodBounds(x, DenseMatrix(), {}, options);
  ASSERT_THAT(one, IsOk());
  EXPECT_NEAR(one->iwae, one->elbo, 1e-5);
}

TEST(EstimateLikelihoodBoundsTest, RejectsBadOptionsAndShapes) {
  absl::StatusOr<std::unique_ptr<VaeModel>> model =
      VaeModel::Create(LinearManifest(), LinearGaussianModule(), torch::Device(torch::kCPU));
  ASSERT_THAT(model, IsOk());
  LikelihoodBoundOptions options;
  options.samples = 0;
  EXPECT_THAT((*model)->EstimateLikelihoodBounds(ToMatrix(Cells()), DenseMatrix(), {}, options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("samples: must be >= 1")));
  EXPECT_THAT((*model)->EstimateLikelihoodBounds(DenseMatrix(3, 2), DenseMatrix(), {}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x: has 2 columns")));
}

}  // namespace
}  // namespace genailab
