#include "models/checkpoint.h"

#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/vae_training.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kGenes = 6;

std::string TestDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::filesystem::path dir = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

DenseMatrix Input(int64_t rows) {
  DenseMatrix x(rows, kGenes);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < kGenes; ++j) x.at(i, j) = static_cast<float>((i * 7 + j * 3) % 11);
  }
  return x;
}

CovariateCodes Codes(int64_t rows) {
  CovariateCodes codes(1);
  for (int64_t i = 0; i < rows; ++i) codes[0].push_back(i % 2);
  return codes;
}

// A tiny NB cvae, trained for one epoch.
std::unique_ptr<TrainedVae> Train() {
  ModelManifest manifest;
  manifest.name = "tiny";
  manifest.model_type = "cvae";
  manifest.likelihood = "negative_binomial";
  manifest.latent_dim = 2;
  manifest.hidden_dims = {8};
  manifest.covariate_embedding_dim = 2;
  for (int64_t j = 0; j < kGenes; ++j) manifest.gene_names.push_back("g" + std::to_string(j));
  manifest.covariates = {{"condition", {"ctrl", "stim"}}};
  manifest.condition_key = "condition";
  TrainingData train;
  train.counts = Input(16);
  train.x = train.counts;
  for (float& v : train.x.values) v = std::log1p(v);
  train.covariates = Codes(16);
  for (int64_t i = 0; i < 16; ++i) train.conditions.push_back(i % 2 ? "stim" : "ctrl");
  VaeTrainingOptions options;
  options.epochs = 1;
  options.batch_size = 8;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained = TrainVae(manifest, train, TrainingData(), options, nullptr);
  EXPECT_TRUE(trained.ok()) << trained.status();
  return std::move(trained).value();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(Sha256OfFileTest, HashesBytesAndReportsMissingFile) {
  const std::string path = TestDir("sha") + "/abc.txt";
  std::ofstream(path) << "abc";
  absl::StatusOr<std::string> sha = Sha256OfFile(path);
  ASSERT_TRUE(sha.ok()) << sha.status();
  EXPECT_EQ(*sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256OfFile(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(CheckpointTest, SaveThenLoadGivesIdenticalEncodings) {
  std::unique_ptr<TrainedVae> trained = Train();
  const std::string dir = TestDir("roundtrip");
  ASSERT_TRUE(trained->Save(dir, 7).ok());

  absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = LoadCheckpoint(dir, "cpu");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const ModelManifest& manifest = (*loaded)->manifest();
  EXPECT_EQ(manifest.version, 7);
  EXPECT_EQ(manifest.weights_file, "weights.pt");
  EXPECT_EQ(manifest.weights_sha256.size(), 64u);
  EXPECT_EQ(manifest.latent_condition_means.size(), 2u);
  EXPECT_GT(manifest.median_library_size, 0.0);

  absl::StatusOr<LatentPosterior> original = trained->model().Encode(Input(5), Codes(5));
  absl::StatusOr<LatentPosterior> reloaded = (*loaded)->Encode(Input(5), Codes(5));
  ASSERT_TRUE(original.ok());
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(original->mean.values, reloaded->mean.values);
  EXPECT_EQ(original->variance.values, reloaded->variance.values);

  absl::StatusOr<DenseMatrix> generated = trained->model().Generate(3, Codes(3), 9, 0.0f, true);
  absl::StatusOr<DenseMatrix> regenerated = (*loaded)->Generate(3, Codes(3), 9, 0.0f, true);
  ASSERT_TRUE(generated.ok());
  ASSERT_TRUE(regenerated.ok());
  EXPECT_EQ(generated->values, regenerated->values);
}

TEST(CheckpointTest, CorruptedWeightsAreDataLoss) {
  std::unique_ptr<TrainedVae> trained = Train();
  const std::string dir = TestDir("corrupt");
  ASSERT_TRUE(trained->Save(dir, 1).ok());
  std::string weights = ReadFile(dir + "/weights.pt");
  ASSERT_FALSE(weights.empty());
  weights[weights.size() / 2] ^= 0x5a;
  std::ofstream(dir + "/weights.pt", std::ios::binary | std::ios::trunc) << weights;
  absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = LoadCheckpoint(dir, "cpu");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(), HasSubstr("weights_sha256"));
}

TEST(CheckpointTest, MissingPiecesAreNotFound) {
  absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = LoadCheckpoint(TestDir("x") + "/nope", "cpu");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(loaded.status().message(), HasSubstr("not found"));

  loaded = LoadCheckpoint(TestDir("empty"), "cpu");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(loaded.status().message(), HasSubstr("manifest.json"));

  std::unique_ptr<TrainedVae> trained = Train();
  const std::string dir = TestDir("no_weights");
  ASSERT_TRUE(trained->Save(dir, 1).ok());
  std::filesystem::remove(dir + "/weights.pt");
  loaded = LoadCheckpoint(dir, "cpu");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(loaded.status().message(), HasSubstr("weights.pt"));
}

TEST(CheckpointTest, BadManifestAndDevice) {
  std::unique_ptr<TrainedVae> trained = Train();
  const std::string dir = TestDir("bad_manifest");
  ASSERT_TRUE(trained->Save(dir, 1).ok());

  // CUDA on a machine without it (or a device index no machine has).
  absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = LoadCheckpoint(dir, "cuda:64");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(loaded.status().message(), HasSubstr("cuda:64"));

  const std::string manifest = ReadFile(dir + "/manifest.json");
  std::string escaping = manifest;
  escaping.replace(escaping.find("\"weights.pt\""), 12, "\"../weights.pt\"");
  std::ofstream(dir + "/manifest.json", std::ios::trunc) << escaping;
  loaded = LoadCheckpoint(dir, "cpu");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr("weights_file"));

  std::string future = manifest;
  future.replace(future.find("\"format_version\": 1"), 19, "\"format_version\": 2");
  std::ofstream(dir + "/manifest.json", std::ios::trunc) << future;
  loaded = LoadCheckpoint(dir, "cpu");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(CheckpointTest, SaveIntoMissingDirectoryIsNotFound) {
  std::unique_ptr<TrainedVae> trained = Train();
  absl::Status saved = trained->Save(TestDir("parent") + "/missing", 1);
  EXPECT_EQ(saved.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(saved.message(), HasSubstr("does not exist"));
}

// Python reads weights.pt with torch.jit.load and sees the C++ parameter names.
TEST(CheckpointTest, PythonTorchReadsTheWeights) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 has no torch";
  }
  std::unique_ptr<TrainedVae> trained = Train();
  const std::string dir = TestDir("python");
  ASSERT_TRUE(trained->Save(dir, 1).ok());
  const std::string command =
      "/usr/bin/python3 -c \"import torch; m = torch.jit.load('" + dir +
      "/weights.pt'); p = dict(m.named_parameters()); "
      "print(sorted(p.keys())); print(tuple(p['encoder_mean.weight'].shape))\" 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), &pclose);
  ASSERT_NE(pipe, nullptr);
  std::string output;
  std::array<char, 4096> buffer;
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) output += buffer.data();
  EXPECT_THAT(output, HasSubstr("'encoder_mean.weight'"));
  EXPECT_THAT(output, HasSubstr("'covariate_embeddings.0.weight'"));
  EXPECT_THAT(output, HasSubstr("'decoder_output.bias'"));
  EXPECT_THAT(output, HasSubstr("'log_theta'"));
  EXPECT_THAT(output, HasSubstr("(2, 8)"));
}

}  // namespace
}  // namespace genailab
