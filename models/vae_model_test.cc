#include "models/vae_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kGenes = 5;
constexpr int64_t kLatent = 2;

// condition: ctrl/stim; batch: b1/b2/b3.
ModelManifest Manifest(const std::string& model_type, const std::string& likelihood) {
  ModelManifest manifest;
  manifest.name = "test";
  manifest.model_type = model_type;
  manifest.likelihood = likelihood;
  manifest.latent_dim = kLatent;
  manifest.hidden_dims = {8};
  manifest.covariate_embedding_dim = 2;
  manifest.gene_names = {"g0", "g1", "g2", "g3", "g4"};
  manifest.covariates = {{"condition", {"ctrl", "stim"}}, {"batch", {"b1", "b2", "b3"}}};
  manifest.condition_key = "condition";
  manifest.latent_condition_means = {{"ctrl", {0.0f, 0.0f}, 10}, {"stim", {1.5f, -0.5f}, 10}};
  manifest.median_library_size = 1000.0;
  return manifest;
}

std::unique_ptr<VaeModel> MakeModel(const ModelManifest& manifest) {
  torch::manual_seed(7);
  absl::StatusOr<VaeModuleOptions> options = VaeModuleOptionsFromManifest(manifest);
  EXPECT_TRUE(options.ok()) << options.status();
  absl::StatusOr<std::unique_ptr<VaeModel>> model =
      VaeModel::Create(manifest, VaeModule(*options), torch::Device(torch::kCPU));
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(model).value();
}

// (model_type, likelihood) of the kinds of VaeModel.
std::vector<std::pair<std::string, std::string>> ModelKinds() {
  return {{"vae", "gaussian"}, {"cvae", "gaussian"}, {"cvae", "negative_binomial"}};
}

DenseMatrix Input(int64_t rows) {
  DenseMatrix x(rows, kGenes);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < kGenes; ++j) x.at(i, j) = static_cast<float>((i + 1) * (j + 2) % 7) * 0.3f;
  }
  return x;
}

// condition = ctrl, batch cycling.
CovariateCodes Codes(int64_t rows) {
  CovariateCodes codes(2);
  for (int64_t i = 0; i < rows; ++i) {
    codes[0].push_back(0);
    codes[1].push_back(i % 3);
  }
  return codes;
}

void ExpectNear(const DenseMatrix& a, const DenseMatrix& b, float tolerance) {
  ASSERT_EQ(a.rows, b.rows);
  ASSERT_EQ(a.cols, b.cols);
  for (size_t i = 0; i < a.values.size(); ++i) EXPECT_NEAR(a.values[i], b.values[i], tolerance) << i;
}

TEST(ResolveDeviceTest, ParsesDeviceStrings) {
  absl::StatusOr<torch::Device> cpu = ResolveDevice("cpu");
  ASSERT_TRUE(cpu.ok());
  EXPECT_TRUE(cpu->is_cpu());
  absl::StatusOr<torch::Device> automatic = ResolveDevice("auto");
  ASSERT_TRUE(automatic.ok());
  EXPECT_EQ(automatic->is_cuda(), torch::cuda::is_available());
  EXPECT_EQ(ResolveDevice("tpu").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ResolveDevice("cuda:x").status().message(), HasSubstr("device must be"));
  EXPECT_EQ(ResolveDevice("cuda:999").status().code(), absl::StatusCode::kUnavailable);
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(ResolveDevice("cuda:0").status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(ResolveDevice("cuda").status().message(), HasSubstr("CUDA is not available"));
  }
}

TEST(VaeModelTest, SmallBatchesEncodeRowByRowAsTheModuleDoes) {
  // Small batches take the row-wise encoder, larger ones the module: every cell's posterior must agree.
  const int64_t rows = 2 * VaeModel::kRowwiseMaxRows + 3;
  for (const auto& [type, likelihood] : ModelKinds()) {
    SCOPED_TRACE(absl::StrCat(type, " ", likelihood));
    std::unique_ptr<VaeModel> model = MakeModel(Manifest(type, likelihood));
    const bool conditioned = type == "cvae";
    DenseMatrix x = Input(rows);
    for (size_t i = 0; i < x.values.size(); ++i) x.values[i] += 0.01f * static_cast<float>(i % 13);
    const CovariateCodes all = conditioned ? Codes(rows) : CovariateCodes{};
    const absl::StatusOr<LatentPosterior> module_path = model->Encode(x, all);
    ASSERT_TRUE(module_path.ok()) << module_path.status();
    for (const int64_t n : {int64_t{1}, int64_t{5}, VaeModel::kRowwiseMaxRows}) {
      // Rows [n, 2n) of the large batch (a batch that does not start at row 0).
      DenseMatrix part(n, kGenes);
      std::copy(x.values.begin() + n * kGenes, x.values.begin() + 2 * n * kGenes, part.values.begin());
      CovariateCodes codes;
      for (const std::vector<int64_t>& column : all) codes.emplace_back(column.begin() + n, column.begin() + 2 * n);
      const absl::StatusOr<LatentPosterior> rowwise = model->Encode(part, codes);
      ASSERT_TRUE(rowwise.ok()) << rowwise.status();
      ASSERT_EQ(rowwise->mean.rows, n);
      ASSERT_EQ(rowwise->variance.cols, kLatent);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < kLatent; ++j) {
          EXPECT_NEAR(rowwise->mean.at(i, j), module_path->mean.at(n + i, j), 1e-5f) << n << " rows, row " << i;
          EXPECT_NEAR(rowwise->variance.at(i, j), module_path->variance.at(n + i, j),
                      1e-5f * module_path->variance.at(n + i, j))
              << n << " rows, row " << i;
        }
      }
    }
  }
}

// The rows [n, 2n) of a matrix.
DenseMatrix Rows(const DenseMatrix& m, int64_t n) {
  DenseMatrix part(n, m.cols);
  std::copy(m.values.begin() + n * m.cols, m.values.begin() + 2 * n * m.cols, part.values.begin());
  return part;
}

CovariateCodes Rows(const CovariateCodes& codes, int64_t n) {
  CovariateCodes part;
  for (const std::vector<int64_t>& column : codes) part.emplace_back(column.begin() + n, column.begin() + 2 * n);
  return part;
}

// Each value of `part` against row n + i of `whole`, to a relative 1e-5 (NB means are in counts).
void ExpectRowsNear(const DenseMatrix& part, const DenseMatrix& whole, int64_t n) {
  ASSERT_EQ(part.cols, whole.cols);
  for (int64_t i = 0; i < part.rows; ++i) {
    for (int64_t j = 0; j < part.cols; ++j) {
      const float expected = whole.at(n + i, j);
      EXPECT_NEAR(part.at(i, j), expected, 1e-5f * std::max(1.0f, std::fabs(expected))) << "row " << i;
    }
  }
}

TEST(VaeModelTest, SmallBatchesDecodeAndPredictRowByRowAsTheModuleDoes) {
  const int64_t rows = 2 * VaeModel::kRowwiseMaxRows + 3;
  for (const auto& [type, likelihood] : ModelKinds()) {
    SCOPED_TRACE(absl::StrCat(type, " ", likelihood));
    std::unique_ptr<VaeModel> model = MakeModel(Manifest(type, likelihood));
    const CovariateCodes all = type == "cvae" ? Codes(rows) : CovariateCodes{};
    DenseMatrix z(rows, kLatent);
    for (size_t i = 0; i < z.values.size(); ++i) z.values[i] = static_cast<float>(i % 11) * 0.37f - 1.8f;
    DenseMatrix x = Input(rows);
    for (size_t i = 0; i < x.values.size(); ++i) x.values[i] += 0.01f * static_cast<float>(i % 13);
    const absl::StatusOr<DenseMatrix> decoded = model->Decode(z, all, {});
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    std::vector<PerturbationMethod> methods = {PerturbationMethod::kLatentArithmetic};
    if (type == "cvae") methods.push_back(PerturbationMethod::kCounterfactual);
    for (const int64_t n : {int64_t{1}, int64_t{5}, VaeModel::kRowwiseMaxRows}) {
      SCOPED_TRACE(absl::StrCat(n, " rows"));
      const absl::StatusOr<DenseMatrix> part = model->Decode(Rows(z, n), Rows(all, n), {});
      ASSERT_TRUE(part.ok()) << part.status();
      ExpectRowsNear(*part, *decoded, n);
      for (const PerturbationMethod method : methods) {
        const absl::StatusOr<DenseMatrix> whole = model->PredictPerturbation(x, all, "ctrl", "stim", method, {});
        ASSERT_TRUE(whole.ok()) << whole.status();
        const absl::StatusOr<DenseMatrix> predicted =
            model->PredictPerturbation(Rows(x, n), Rows(all, n), "ctrl", "stim", method, {});
        ASSERT_TRUE(predicted.ok()) << predicted.status();
        ExpectRowsNear(*predicted, *whole, n);
      }
    }
  }
}

TEST(VaeModelTest, EncodeDecodeShapes) {
  std::unique_ptr<VaeModel> model = MakeModel(Manifest("cvae", "gaussian"));
  absl::StatusOr<LatentPosterior> posterior = model->Encode(Input(4), Codes(4));
  ASSERT_TRUE(posterior.ok()) << posterior.status();
  EXPECT_EQ(posterior->mean.rows, 4);
  EXPECT_EQ(posterior->mean.cols, kLatent);
  EXPECT_EQ(posterior->variance.cols, kLatent);
  for (float v : posterior->variance.values) EXPECT_GT(v, 0.0f);
  absl::StatusOr<DenseMatrix> decoded = model->Decode(posterior->mean, Codes(4), {});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->rows, 4);
  EXPECT_EQ(decoded->cols, kGenes);
}

TEST(VaeModelTest, NegativeBinomialDecodeScalesToLibrarySize) {
  std::unique_ptr<VaeModel> model = MakeModel(Manifest("cvae", "negative_binomial"));
  DenseMatrix z(2, kLatent);
  absl::StatusOr<DenseMatrix> given = model->Decode(z, Codes(2), {50.0f, 200.0f});
  ASSERT_TRUE(given.ok()) << given.status();
  float row0 = 0, row1 = 0;
  for (int64_t j = 0; j < kGenes; ++j) {
    row0 += given->at(0, j);
    row1 += given->at(1, j);
  }
  EXPECT_NEAR(row0, 50.0f, 1e-3);
  EXPECT_NEAR(row1, 200.0f, 1e-2);
  absl::StatusOr<DenseMatrix> median = model->Decode(z, Codes(2), {});
  ASSERT_TRUE(median.ok());
  float total = 0;
  for (int64_t j = 0; j < kGenes; ++j) total += median->at(0, j);
  EXPECT_NEAR(total, 1000.0f, 0.1);

  absl::StatusOr<DenseMatrix> bad = model->Decode(z, Codes(2), {50.0f});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("library_size"));
}

TEST(VaeModelTest, RejectsWrongShapesAndCodes) {
  std::unique_ptr<VaeModel> model = MakeModel(Manifest("cvae", "gaussian"));
  DenseMatrix wrong_genes(3, kGenes + 1);
  absl::StatusOr<LatentPosterior> result = model->Encode(wrong_genes, Codes(3));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("x: has 6 columns"));

  CovariateCodes out_of_range = Codes(3);
  out_of_range[1][2] = 3;
  result = model->Encode(Input(3), out_of_range);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("\"batch\"): code 3 at row 2"));

  result = model->Encode(Input(3), Codes(2));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("expected 3 codes"));

  result = model->Encode(Input(3), {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("conditioned on 2 covariate(s)"));

  DenseMatrix not_finite = Input(3);
  not_finite.at(1, 1) = std::nanf("");
  result = model->Encode(not_finite, Codes(3));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<DenseMatrix> decoded = model->Decode(DenseMatrix(3, kLatent + 1), Codes(3), {});
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("z: has 3 columns"));
}

TEST(VaeModelTest, GenerateIsSeededPerCall) {
  std::unique_ptr<VaeModel> model = MakeModel(Manifest("cvae", "negative_binomial"));
  absl::StatusOr<DenseMatrix> first = model->Generate(4, Codes(4), 11, 100.0f, false);
  absl::StatusOr<DenseMatrix> unrelated = model->Generate(3, Codes(3), 99, 0.0f, true);
  absl::StatusOr<DenseMatrix> second = model->Generate(4, Codes(4), 11, 100.0f, false);
  absl::StatusOr<DenseMatrix> other_seed = model->Generate(4, Codes(4), 12, 100.0f, false);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(unrelated.ok()) << unrelated.status();
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(other_seed.ok());
  EXPECT_EQ(first->values, second->values);
  EXPECT_NE(first->values, other_seed->values);

  absl::StatusOr<DenseMatrix> counts = model->Generate(4, Codes(4), 5, 100.0f, true);
  absl::StatusOr<DenseMatrix> counts_again = model->Generate(4, Codes(4), 5, 100.0f, true);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->values, counts_again->values);
  for (float v : counts->values) {
    EXPECT_GE(v, 0.0f);
    EXPECT_EQ(v, std::floor(v));
  }

  EXPECT_EQ(model->Generate(3, Codes(4), 1, 0.0f, false).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->Generate(-1, {}, 1, 0.0f, false).status().code(), absl::StatusCode::kInvalidArgument);
  std::unique_ptr<VaeModel> gaussian = MakeModel(Manifest("vae", "gaussian"));
  absl::StatusOr<DenseMatrix> sampled = gaussian->Generate(3, {}, 1, 0.0f, true);
  EXPECT_EQ(sampled.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sampled.status().message(), HasSubstr("sample_counts"));
  absl::StatusOr<DenseMatrix> generated = gaussian->Generate(3, {}, 1, 0.0f, false);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_EQ(generated->rows, 3);
  EXPECT_EQ(generated->cols, kGenes);
}

// Generate's own (row-independent) decoder computes what the module's decoder computes: Generate's means
// for `seed` against Decode of the latents it draws (drawn here as it draws them). Returns the means.
DenseMatrix ExpectGeneratedMeansDecodeTheirLatents(const VaeModel& model, const CovariateCodes& codes, uint64_t seed) {
  const int64_t n = static_cast<int64_t>(codes.front().size());
  const torch::Tensor z = torch::randn({n, kLatent}, at::detail::createCPUGenerator(seed), torch::kFloat32);
  DenseMatrix latent(n, kLatent);
  std::memcpy(latent.values.data(), z.data_ptr<float>(), latent.values.size() * sizeof(float));
  const absl::StatusOr<DenseMatrix> decoded = model.Decode(latent, codes, {});
  const absl::StatusOr<DenseMatrix> means = model.Generate(n, codes, seed, 0.0f, false);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(means.ok()) << means.status();
  if (!decoded.ok() || !means.ok()) return DenseMatrix();
  EXPECT_EQ(means->values.size(), decoded->values.size());
  for (size_t i = 0; i < means->values.size() && i < decoded->values.size(); ++i) {
    EXPECT_NEAR(means->values[i], decoded->values[i], 1e-4f * (1.0f + std::abs(decoded->values[i]))) << i;
  }
  return *means;
}

TEST(VaeModelTest, GenerateBatchGivesEveryCallItsCellsAlone) {
  for (const char* likelihood : {"negative_binomial", "gaussian"}) {
    SCOPED_TRACE(likelihood);
    std::unique_ptr<VaeModel> model = MakeModel(Manifest("cvae", likelihood));
    const bool nb = std::string(likelihood) == "negative_binomial";
    const CovariateCodes c4 = Codes(4), c1 = Codes(1), c0 = Codes(0), c64 = Codes(64), bad = Codes(2);
    std::vector<GenerativeModel::GenerateCall> calls = {
        {4, &c4, 11, 100.0f, false}, {1, &c1, 3, 0.0f, nb}, {0, &c0, 8, 0.0f, false},
        {3, &bad, 4, 0.0f, false},  // 3 cells but codes for 2: fails alone
        {64, &c64, 5, 0.0f, nb},    {4, &c4, 11, 100.0f, false}, {1, &c1, 12, 0.0f, false}};
    const std::vector<absl::StatusOr<DenseMatrix>> batched = model->GenerateBatch(calls);
    ASSERT_EQ(batched.size(), calls.size());
    EXPECT_EQ(batched[3].status().code(), absl::StatusCode::kInvalidArgument);
    for (size_t i = 0; i < calls.size(); ++i) {
      if (i == 3) continue;
      const GenerativeModel::GenerateCall& call = calls[i];
      const absl::StatusOr<DenseMatrix> alone =
          model->Generate(call.n, *call.covariates, call.seed, call.library_size, call.sample_counts);
      ASSERT_TRUE(alone.ok()) << alone.status();
      ASSERT_TRUE(batched[i].ok()) << i << ": " << batched[i].status();
      EXPECT_EQ(batched[i]->rows, call.n);
      EXPECT_EQ(batched[i]->cols, kGenes);
      // Bit-identical, not merely close.
      EXPECT_EQ(batched[i]->values, alone->values) << "call " << i;
    }
    // Same seed and arguments, same cells; another seed, other cells.
    EXPECT_EQ(batched[0]->values, batched[5]->values);
    EXPECT_NE(batched[1]->values, batched[6]->values);
    ExpectGeneratedMeansDecodeTheirLatents(*model, c64, 5);
  }
}

TEST(VaeModelTest, GenerateDecodesLayersOfEveryWidthAsTheModulesDecoder) {
  // Widths that use each path of Generate's row-wise linear layers: blocks of 32 columns, of 8, and a
  // last block of 5 columns that reads zero padding (hidden 40 = 32 + 8; 45 genes = 32 + 8 + 5).
  ModelManifest manifest = Manifest("cvae", "gaussian");
  manifest.hidden_dims = {40};
  manifest.gene_names.clear();
  for (int g = 0; g < 45; ++g) manifest.gene_names.push_back(absl::StrCat("g", g));
  std::unique_ptr<VaeModel> model = MakeModel(manifest);
  const CovariateCodes codes = Codes(9);
  const DenseMatrix means = ExpectGeneratedMeansDecodeTheirLatents(*model, codes, 3);
  ASSERT_EQ(means.cols, 45);
  // Batched behind one other cell, the 9 cells fall into other blocks of 4 rows (rows 1-9 of the batch);
  // they come out the same, bit for bit.
  const CovariateCodes one = Codes(1);
  std::vector<GenerativeModel::GenerateCall> calls = {{1, &one, 4, 0.0f, false}, {9, &codes, 3, 0.0f, false}};
  const std::vector<absl::StatusOr<DenseMatrix>> batched = model->GenerateBatch(calls);
  ASSERT_TRUE(batched[1].ok()) << batched[1].status();
  EXPECT_EQ(batched[1]->values, means.values);
}

TEST(VaeModelTest, LatentArithmeticWithSameConditionIsReconstruction) {
  std::unique_ptr<VaeModel> model = MakeModel(Manifest("vae", "gaussian"));
  const DenseMatrix x = Input(4);
  absl::StatusOr<LatentPosterior> posterior = model->Encode(x, {});
  ASSERT_TRUE(posterior.ok());
  absl::StatusOr<DenseMatrix> reconstruction = model->Decode(posterior->mean, {}, {});
  ASSERT_TRUE(reconstruction.ok());
  absl::StatusOr<DenseMatrix> same =
      model->PredictPerturbation(x, {}, "stim", "stim", PerturbationMethod::kDefault, {});
  ASSERT_TRUE(same.ok()) << same.status();
  ExpectNear(*same, *reconstruction, 1e-5f);
}

TEST(VaeModelTest, LatentArithmeticAppliesTheShift) {
  std::unique_ptr<VaeModel> model = MakeModel(Manifest("vae", "gaussian"));
  const DenseMatrix x = Input(4);
  absl::StatusOr<LatentPosterior> posterior = model->Encode(x, Codes(4));
  ASSERT_TRUE(posterior.ok());
  DenseMatrix shifted = posterior->mean;
  for (int64_t i = 0; i < shifted.rows; ++i) {
    shifted.at(i, 0) += 1.5f;
    shifted.at(i, 1) -= 0.5f;
  }
  absl::StatusOr<DenseMatrix> expected = model->Decode(shifted, {}, {});
  ASSERT_TRUE(expected.ok());
  absl::StatusOr<DenseMatrix> predicted =
      model->PredictPerturbation(x, Codes(4), "ctrl", "stim", PerturbationMethod::kLatentArithmetic, {});
  ASSERT_TRUE(predicted.ok()) << predicted.status();
  ExpectNear(*predicted, *expected, 1e-5f);
}

TEST(VaeModelTest, CounterfactualDecodesWithTargetCondition) {
  std::unique_ptr<VaeModel> model = MakeModel(Manifest("cvae", "gaussian"));
  const DenseMatrix x = Input(3);
  absl::StatusOr<LatentPosterior> posterior = model->Encode(x, Codes(3));
  ASSERT_TRUE(posterior.ok());
  CovariateCodes target_codes = Codes(3);
  for (int64_t& code : target_codes[0]) code = 1;
  absl::StatusOr<DenseMatrix> expected = model->Decode(posterior->mean, target_codes, {});
  ASSERT_TRUE(expected.ok());
  for (PerturbationMethod method : {PerturbationMethod::kDefault, PerturbationMethod::kCounterfactual}) {
    absl::StatusOr<DenseMatrix> predicted = model->PredictPerturbation(x, Codes(3), "ctrl", "stim", method, {});
    ASSERT_TRUE(predicted.ok()) << predicted.status();
    ExpectNear(*predicted, *expected, 1e-5f);
  }
}

TEST(VaeModelTest, PerturbationErrors) {
  std::unique_ptr<VaeModel> model = MakeModel(Manifest("cvae", "gaussian"));
  absl::StatusOr<DenseMatrix> result =
      model->PredictPerturbation(Input(2), Codes(2), "ctrl", "heat", PerturbationMethod::kDefault, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("target: unknown condition \"heat\""));
  result = model->PredictPerturbation(Input(2), Codes(2), "heat", "ctrl", PerturbationMethod::kDefault, {});
  EXPECT_THAT(result.status().message(), HasSubstr("source: unknown"));

  // A cvae conditioned only on batch: the condition is not a network input.
  ModelManifest batch_only = Manifest("cvae", "gaussian");
  batch_only.covariates = {{"batch", {"b1", "b2", "b3"}}};
  std::unique_ptr<VaeModel> batch_model = MakeModel(batch_only);
  CovariateCodes batch_codes = {Codes(2)[1]};
  result = batch_model->PredictPerturbation(Input(2), batch_codes, "ctrl", "stim",
                                            PerturbationMethod::kCounterfactual, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("counterfactual"));
  result = batch_model->PredictPerturbation(Input(2), batch_codes, "ctrl", "stim", PerturbationMethod::kDefault, {});
  EXPECT_TRUE(result.ok()) << result.status();

  ModelManifest no_means = Manifest("vae", "gaussian");
  no_means.latent_condition_means.pop_back();
  result = MakeModel(no_means)->PredictPerturbation(Input(2), {}, "ctrl", "stim", PerturbationMethod::kDefault, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("no latent mean for condition \"stim\""));

  ModelManifest no_key = Manifest("vae", "gaussian");
  no_key.condition_key.clear();
  result = MakeModel(no_key)->PredictPerturbation(Input(2), {}, "ctrl", "stim", PerturbationMethod::kDefault, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("condition_key"));
}

TEST(VaeModelTest, CreateRejectsModuleOfAnotherArchitecture) {
  ModelManifest manifest = Manifest("vae", "gaussian");
  absl::StatusOr<VaeModuleOptions> options = VaeModuleOptionsFromManifest(manifest);
  ASSERT_TRUE(options.ok());
  manifest.latent_dim = kLatent + 1;
  absl::StatusOr<std::unique_ptr<VaeModel>> model =
      VaeModel::Create(manifest, VaeModule(*options), torch::Device(torch::kCPU));
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("architecture"));
}

// One-hot rows for `codes` (one code per covariate per row).
CovariateWeights OneHot(const ModelManifest& manifest, const CovariateCodes& codes) {
  CovariateWeights weights;
  for (size_t k = 0; k < codes.size(); ++k) {
    DenseMatrix matrix(static_cast<int64_t>(codes[k].size()), static_cast<int64_t>(manifest.covariates[k].values.size()));
    for (size_t i = 0; i < codes[k].size(); ++i) matrix.at(static_cast<int64_t>(i), codes[k][i]) = 1.0f;
    weights.push_back(std::move(matrix));
  }
  return weights;
}

TEST(VaeModelDecodeMixedTest, OneHotWeightsDecodeExactlyLikeCodes) {
  for (const std::string likelihood : {"gaussian", "negative_binomial"}) {
    const ModelManifest manifest = Manifest("cvae", likelihood);
    std::unique_ptr<VaeModel> model = MakeModel(manifest);
    DenseMatrix z(4, kLatent);
    for (int64_t i = 0; i < 4; ++i) z.at(i, 0) = 0.5f * static_cast<float>(i), z.at(i, 1) = -0.3f;
    const CovariateCodes codes = {{0, 1, 1, 0}, {2, 0, 1, 2}};
    absl::StatusOr<DenseMatrix> decoded = model->Decode(z, codes, {});
    absl::StatusOr<DenseMatrix> mixed = model->DecodeMixed(z, OneHot(manifest, codes), {});
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ASSERT_TRUE(mixed.ok()) << mixed.status();
    ExpectNear(*mixed, *decoded, 1e-5f);
  }
}

TEST(VaeModelDecodeMixedTest, LinearDecoderMixesLinearly) {
  // Without hidden layers the Gaussian decoder is affine in its input, so decoding the 30/70 mixture of
  // two embeddings is the 30/70 mixture of the two decodes.
  ModelManifest manifest = Manifest("cvae", "gaussian");
  manifest.hidden_dims = {};
  std::unique_ptr<VaeModel> model = MakeModel(manifest);
  DenseMatrix z(1, kLatent);
  z.at(0, 0) = 0.7f;
  absl::StatusOr<DenseMatrix> ctrl = model->Decode(z, {{0}, {1}}, {});
  absl::StatusOr<DenseMatrix> stim = model->Decode(z, {{1}, {1}}, {});
  DenseMatrix condition(1, 2), batch(1, 3);
  condition.at(0, 0) = 0.3f;
  condition.at(0, 1) = 0.7f;
  batch.at(0, 1) = 1.0f;
  absl::StatusOr<DenseMatrix> mixed = model->DecodeMixed(z, {condition, batch}, {});
  ASSERT_TRUE(ctrl.ok() && stim.ok() && mixed.ok());
  DenseMatrix expected(1, kGenes);
  for (int64_t j = 0; j < kGenes; ++j) expected.at(0, j) = 0.3f * ctrl->at(0, j) + 0.7f * stim->at(0, j);
  ExpectNear(*mixed, expected, 1e-5f);
}

TEST(VaeModelDecodeMixedTest, RejectsMalformedWeights) {
  const ModelManifest manifest = Manifest("cvae", "gaussian");
  std::unique_ptr<VaeModel> model = MakeModel(manifest);
  DenseMatrix z(1, kLatent);
  CovariateWeights weights = OneHot(manifest, {{0}, {1}});
  weights[1].at(0, 2) = -0.5f;
  absl::StatusOr<DenseMatrix> negative = model->DecodeMixed(z, weights, {});
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(negative.status().message(), HasSubstr("covariate_weights[1] (\"batch\"): weight of \"b3\" at row 0"));
  absl::StatusOr<DenseMatrix> shape = model->DecodeMixed(z, {DenseMatrix(1, 2), DenseMatrix(1, 2)}, {});
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(shape.status().message(), HasSubstr("expected 1 x 3"));
  absl::StatusOr<DenseMatrix> missing = model->DecodeMixed(z, {}, {});
  EXPECT_THAT(missing.status().message(), HasSubstr("none were given"));
}

}  // namespace
}  // namespace genailab
