#include "models/vae_module.h"

#include <cmath>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

TEST(LikelihoodTest, NegativeBinomialWithThetaOneIsGeometric) {
  // theta = 1: P(x) = (1 / (1 + mu)) * (mu / (1 + mu))^x. x = 2, mu = 1: 0.5 * 0.25 = 0.125.
  torch::Tensor ll = NegativeBinomialLogLikelihood(torch::tensor({{2.0f}}), torch::tensor({{1.0f}}),
                                                   torch::zeros({1}));
  EXPECT_NEAR(ll.item<double>(), std::log(0.125), 1e-5);
}

TEST(LikelihoodTest, NegativeBinomialSumsOverGenes) {
  // Gene 1: x = 0, mu = 3, theta = 2: P = (2 / 5)^2 = 0.16.
  // Gene 2: x = 1, mu = 2, theta = 2: P = Gamma(3) / (Gamma(2) * 1!) * (2/4)^2 * (2/4) = 2 * 0.125 = 0.25.
  torch::Tensor ll = NegativeBinomialLogLikelihood(torch::tensor({{0.0f, 1.0f}}), torch::tensor({{3.0f, 2.0f}}),
                                                   torch::full({2}, std::log(2.0)));
  ASSERT_EQ(ll.sizes(), torch::IntArrayRef({1}));
  EXPECT_NEAR(ll.item<double>(), std::log(0.16) + std::log(0.25), 1e-5);
}

TEST(LikelihoodTest, GaussianMatchesClosedForm) {
  // Two genes: (x=1, mean=0, var=1) and (x=2, mean=1, var=e^2).
  torch::Tensor ll = GaussianLogLikelihood(torch::tensor({{1.0f, 2.0f}}), torch::tensor({{0.0f, 1.0f}}),
                                           torch::tensor({0.0f, 2.0f}));
  const double log_two_pi = std::log(2.0 * M_PI);
  const double expected = (-0.5 * log_two_pi - 0.5) + (-0.5 * (log_two_pi + 2.0 + std::exp(-2.0)));
  EXPECT_NEAR(ll.item<double>(), expected, 1e-5);
}

TEST(LikelihoodTest, KlMatchesClosedForm) {
  // Row 0: mu = 1, var = 1 -> 0.5. Row 1: mu = 0, var = 2 -> 0.5 * (2 - 1 - ln 2).
  torch::Tensor kl = KlToStandardNormal(torch::tensor({{1.0f}, {0.0f}}), torch::tensor({{0.0f}, {std::log(2.0f)}}));
  ASSERT_EQ(kl.size(0), 2);
  EXPECT_NEAR(kl[0].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(kl[1].item<double>(), 0.5 * (1.0 - std::log(2.0)), 1e-6);
}

VaeModuleOptions CvaeOptions(const std::string& likelihood) {
  VaeModuleOptions options;
  options.n_genes = 6;
  options.latent_dim = 3;
  options.hidden_dims = {8, 4};
  options.covariate_cardinalities = {2, 3};
  options.covariate_embedding_dim = 2;
  options.likelihood = likelihood;
  options.dropout = 0.1;
  options.conditioned = true;
  return options;
}

TEST(VaeModuleTest, ParameterNamesAreStable) {
  VaeModule module(CvaeOptions(kNegativeBinomialLikelihood));
  std::set<std::string> names;
  for (const auto& item : module->named_parameters()) names.insert(item.key());
  for (const std::string expected :
       {"covariate_embeddings.0.weight", "covariate_embeddings.1.weight", "encoder.0.weight", "encoder.1.weight",
        "encoder_mean.weight", "encoder_log_variance.bias", "decoder.0.weight", "decoder_output.weight",
        "log_theta"}) {
    EXPECT_EQ(names.count(expected), 1u) << expected;
  }
  EXPECT_EQ(names.count("gene_log_variance"), 0u);

  VaeModuleOptions gaussian_vae = CvaeOptions(kGaussianLikelihood);
  gaussian_vae.conditioned = false;
  VaeModule plain(gaussian_vae);
  names.clear();
  for (const auto& item : plain->named_parameters()) names.insert(item.key());
  EXPECT_EQ(names.count("gene_log_variance"), 1u);
  EXPECT_EQ(names.count("covariate_embeddings.0.weight"), 0u);
}

TEST(VaeModuleTest, ShapesAndDeterministicLoss) {
  torch::manual_seed(1);
  VaeModule module(CvaeOptions(kNegativeBinomialLikelihood));
  module->eval();
  torch::Tensor counts = torch::randint(0, 10, {5, 6}).to(torch::kFloat32);
  torch::Tensor x = torch::log1p(counts);
  torch::Tensor covariates = torch::tensor({0, 2, 1, 0, 1, 2, 0, 0, 1, 1}, torch::kInt64).reshape({5, 2});
  torch::Tensor library = counts.sum(1);

  VaePosterior posterior = module->Encode(x, covariates);
  EXPECT_EQ(posterior.mean.sizes(), torch::IntArrayRef({5, 3}));
  EXPECT_EQ(posterior.log_variance.sizes(), torch::IntArrayRef({5, 3}));
  torch::Tensor mean = module->DecodeMean(posterior.mean, covariates, library);
  ASSERT_EQ(mean.sizes(), torch::IntArrayRef({5, 6}));
  EXPECT_TRUE(torch::allclose(mean.sum(1), library, 1e-4, 1e-3));

  VaeLossTerms terms = module->Loss(x, covariates, counts, library, 0.5, /*sample_latent=*/false);
  const double expected_reconstruction = -module->LogLikelihood(counts, mean).mean().item<double>();
  EXPECT_NEAR(terms.reconstruction.item<double>(), expected_reconstruction, 1e-4);
  EXPECT_NEAR(terms.loss.item<double>(), terms.reconstruction.item<double>() + 0.5 * terms.kl.item<double>(), 1e-4);
}

TEST(VaeModuleTest, CloneCopiesParametersToNewModule) {
  VaeModule module(CvaeOptions(kGaussianLikelihood));
  auto copy = std::dynamic_pointer_cast<VaeModuleImpl>(module->clone());
  ASSERT_NE(copy, nullptr);
  auto original = module->named_parameters();
  auto cloned = copy->named_parameters();
  ASSERT_EQ(original.size(), cloned.size());
  for (const auto& item : original) {
    EXPECT_TRUE(torch::equal(item.value(), cloned[item.key()])) << item.key();
    EXPECT_NE(item.value().data_ptr(), cloned[item.key()].data_ptr()) << item.key();
  }
}

TEST(VaeModuleOptionsFromManifestTest, NamesTheBadField) {
  ModelManifest manifest;
  manifest.model_type = "cvae";
  manifest.likelihood = "gaussian";
  manifest.latent_dim = 2;
  manifest.gene_names = {"a", "b"};
  manifest.covariate_embedding_dim = 2;
  manifest.covariates = {{"batch", {"b1", "b2"}}};
  ASSERT_TRUE(VaeModuleOptionsFromManifest(manifest).ok());

  ModelManifest bad = manifest;
  bad.likelihood = "poisson";
  EXPECT_EQ(VaeModuleOptionsFromManifest(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(VaeModuleOptionsFromManifest(bad).status().message(), HasSubstr("likelihood"));
  bad = manifest;
  bad.covariates.clear();
  EXPECT_THAT(VaeModuleOptionsFromManifest(bad).status().message(), HasSubstr("covariates is empty"));
  bad = manifest;
  bad.hidden_dims = {4, 0};
  EXPECT_THAT(VaeModuleOptionsFromManifest(bad).status().message(), HasSubstr("hidden_dims[1]"));
  bad = manifest;
  bad.latent_dim = 0;
  EXPECT_THAT(VaeModuleOptionsFromManifest(bad).status().message(), HasSubstr("latent_dim"));
}

}  // namespace
}  // namespace genailab
