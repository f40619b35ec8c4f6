// Every model of the family, trained by genailab-train on the synthetic data and on the real PBMC dataset
// (../shared/data/pbmc68k_reduced.h5ad), served by one real genailab-server on loopback, and asked every RPC
// that its GetModel says it supports: each must answer with the right shapes, the same seed must give the
// same cells, and an RPC a model does not claim must be refused with a specific code (never INTERNAL).
// Short trainings: this checks that each model trains, loads and serves on both datasets, not its quality
// (bench/models measures that).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "client/genailab_client.h"
#include "data/h5ad_io.h"
#include "data/synthetic.h"
#include "genailab/v1/generative_service.pb.h"
#include "tests/process.h"

namespace genailab {
namespace {

using testing::ChildProcess;

// A dataset as the test trains on it.
struct Dataset {
  std::string name;
  std::string path;
  std::string layer;
  std::vector<std::string> covariate_keys;  // a cvae's covariates
  std::string condition_key;               // the "perturbation" column
  std::string control, target;             // source and target values of condition_key
};

// A model of the family: genailab-train flags beyond the data's.
struct ModelSpec {
  std::string name;
  std::vector<std::string> flags;
  bool conditional = true;  // gets --covariate_keys
  // Diffusion / flow matching: takes --control_condition and must list samplers.
  bool iterative() const {
    return std::find(flags.begin(), flags.end(), "--model_type=diffusion") != flags.end() ||
           std::find(flags.begin(), flags.end(), "--model_type=flow_matching") != flags.end();
  }
};

const std::vector<ModelSpec>& Models() {
  static const auto* models = new std::vector<ModelSpec>{
      {"vae", {"--model_type=vae", "--epochs=4"}, false},
      {"cvae", {"--model_type=cvae", "--epochs=4"}},
      {"beta_vae", {"--model_type=cvae", "--beta=4", "--kl_schedule=cyclical", "--kl_cycle_epochs=2", "--epochs=4"}},
      {"iwae", {"--model_type=cvae", "--iwae_samples=5", "--epochs=4"}},
      {"diffusion_vp", {"--model_type=diffusion", "--pca_components=8", "--hidden_dims=32,32", "--epochs=3",
                        "--sde=vp", "--noise_schedule=cosine", "--sampling_steps=4"}},
      {"diffusion_ve", {"--model_type=diffusion", "--pca_components=8", "--hidden_dims=32,32", "--epochs=3",
                        "--sde=ve", "--score_network=attention", "--sampling_steps=4"}},
      {"flow_matching", {"--model_type=flow_matching", "--pca_components=8", "--hidden_dims=32,32", "--epochs=3",
                         "--sampling_steps=4"}},
      {"latent_diffusion", {"--model_type=diffusion", "--representation=vae_latent", "--hidden_dims=32,32",
                            "--epochs=3", "--sampling_steps=4"}},
  };
  return *models;
}

std::string RepositoryName(const Dataset& data, const ModelSpec& model) {
  return absl::StrCat(data.name, "_", model.name);
}

// The RPCs this test knows how to call.
const std::set<std::string>& KnownRpcs() {
  static const auto* rpcs = new std::set<std::string>{"Encode", "Decode", "Generate",
                                                      "PredictPerturbation", "Interpolate", "TraverseLatent"};
  return *rpcs;
}

class ModelFamilyTest : public ::testing::TestWithParam<std::tuple<int, int>> {
 protected:
  static void SetUpTestSuite() {
    const std::string tmp = std::getenv("TEST_TMPDIR");
    datasets_ = new std::vector<Dataset>();
    cells_ = new std::map<std::string, AnnData>();

    SyntheticOptions synthetic;
    synthetic.n_genes = 60;
    synthetic.n_cell_types = 3;
    synthetic.cells_per_group = 30;
    synthetic.seed = 5;
    AnnData generated = GenerateSyntheticDataset(synthetic).value();
    const std::string synthetic_path = tmp + "/synthetic.h5ad";
    ASSERT_TRUE(WriteH5ad(synthetic_path, generated).ok());
    datasets_->push_back({"synthetic", synthetic_path, "X", {"cell_type", "condition", "batch"}, "condition",
                          "control", "stimulated"});

    const char* shared = std::getenv("GENAILAB_SHARED_DIR");
    ASSERT_NE(shared, nullptr) << "GENAILAB_SHARED_DIR is not set (scripts/test.sh sets it to ../shared)";
    const std::string pbmc_path = std::string(shared) + "/data/pbmc68k_reduced.h5ad";
    ASSERT_TRUE(std::filesystem::exists(pbmc_path)) << pbmc_path;
    // PBMC has no perturbation; the cell-cycle phase stands in as the "condition" the RPCs shift between.
    datasets_->push_back({"pbmc", pbmc_path, "raw/X", {"bulk_labels", "phase"}, "phase", "G1", "S"});

    repository_ = new std::string(tmp + "/repository");
    for (const Dataset& data : *datasets_) {
      H5adReadOptions read_options;
      read_options.layer = data.layer;
      absl::StatusOr<AnnData> read = ReadH5ad(data.path, read_options);
      ASSERT_TRUE(read.ok()) << read.status();
      (*cells_)[data.name] = *std::move(read);
      for (const ModelSpec& model : Models()) {
        std::vector<std::string> argv = {testing::RunfilePath("trainer/genailab-train"), "--data=" + data.path,
                                         "--layer=" + data.layer, "--repository=" + *repository_,
                                         "--model=" + RepositoryName(data, model), "--seed=1", "--threads=1",
                                         "--latent_dim=4", "--condition_key=" + data.condition_key};
        if (model.iterative()) argv.push_back("--control_condition=" + data.control);
        if (model.conditional) {
          std::string keys;
          for (const std::string& key : data.covariate_keys) keys += (keys.empty() ? "" : ",") + key;
          argv.push_back("--covariate_keys=" + keys);
        }
        argv.insert(argv.end(), model.flags.begin(), model.flags.end());
        const std::string log = tmp + "/train_" + RepositoryName(data, model) + ".log";
        const auto trained = testing::RunToCompletion(argv, log, absl::Minutes(5));
        ASSERT_TRUE(trained.ok()) << RepositoryName(data, model) << ": " << trained.status();
        ASSERT_EQ(*trained, 0) << RepositoryName(data, model) << ":\n" << testing::ReadFileOrEmpty(log);
      }
    }

    // The server loads every version before it writes its ports.
    const std::string port_file = tmp + "/ports.json";
    auto server = ChildProcess::Start(
        {testing::RunfilePath("server/genailab-server"), "--repository=" + *repository_,
         "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0", "--port_file=" + port_file,
         "--device=cpu"},
        tmp + "/server.log");
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = new ChildProcess(std::move(*server));
    const auto ports = testing::WaitForFile(port_file, absl::Seconds(120));
    ASSERT_TRUE(ports.ok()) << testing::ReadFileOrEmpty(tmp + "/server.log");
    GenailabClient::Options options;
    options.target = absl::StrCat("127.0.0.1:", nlohmann::json::parse(*ports).at("grpc_port").get<int>());
    options.timeout = absl::Seconds(120);
    client_ = GenailabClient::Create(options).value().release();
    const auto models = client_->ListModels();
    ASSERT_TRUE(models.ok()) << models.status();
    ASSERT_EQ(models->size(), datasets_->size() * Models().size()) << testing::ReadFileOrEmpty(tmp + "/server.log");
  }

  static void TearDownTestSuite() {
    delete client_;
    client_ = nullptr;
    if (server_ != nullptr) {
      const auto exit_code = server_->Stop(SIGTERM, absl::Seconds(30));
      EXPECT_TRUE(exit_code.ok()) << exit_code.status();
    }
    delete server_;
    server_ = nullptr;
    delete repository_;
    delete cells_;
    delete datasets_;
  }

  const Dataset& data() const { return (*datasets_)[std::get<0>(GetParam())]; }
  const ModelSpec& model() const { return Models()[std::get<1>(GetParam())]; }
  std::string name() const { return RepositoryName(data(), model()); }
  const AnnData& cells() const { return cells_->at(data().name); }

  // The first `n` cells whose condition is `condition`.
  AnnData CellsIn(const std::string& condition, int n) const {
    std::vector<int64_t> rows;
    const std::vector<std::string>& column = cells().obs.at(data().condition_key);
    for (int64_t i = 0; i < cells().n_obs() && static_cast<int>(rows.size()) < n; ++i) {
      if (column[i] == condition) rows.push_back(i);
    }
    return cells().SelectCells(rows);
  }

  static std::vector<Dataset>* datasets_;
  static std::map<std::string, AnnData>* cells_;
  static std::string* repository_;
  static ChildProcess* server_;
  static GenailabClient* client_;
};

std::vector<Dataset>* ModelFamilyTest::datasets_ = nullptr;
std::map<std::string, AnnData>* ModelFamilyTest::cells_ = nullptr;
std::string* ModelFamilyTest::repository_ = nullptr;
ChildProcess* ModelFamilyTest::server_ = nullptr;
GenailabClient* ModelFamilyTest::client_ = nullptr;

void ExpectFinite(const DenseMatrix& x, const std::string& what) {
  for (float v : x.values) ASSERT_TRUE(std::isfinite(v)) << what << " holds " << v;
}

TEST_P(ModelFamilyTest, AnswersEveryRpcItClaims) {
  const absl::StatusOr<v1::ModelInfo> info = client_->GetModel(name());
  ASSERT_TRUE(info.ok()) << info.status();
  const std::set<std::string> claimed(info->supported_rpcs().begin(), info->supported_rpcs().end());
  for (const std::string& rpc : claimed) {
    EXPECT_TRUE(KnownRpcs().count(rpc)) << name() << " claims " << rpc << ", which this test does not call";
  }
  EXPECT_TRUE(claimed.count("Generate")) << name();
  EXPECT_TRUE(claimed.count("PredictPerturbation")) << name();
  const bool iterative = info->samplers_size() > 0;
  EXPECT_EQ(iterative, model().iterative()) << name();
  EXPECT_EQ(info->gene_names_size(), cells().n_vars());
  if (model().name == "iwae") EXPECT_TRUE(info->training_metrics().count("iwae_bound_k5")) << name();

  // The model's covariates, each at the value of the first cell.
  std::vector<std::string> keys;
  std::map<std::string, std::string> first_values;
  for (const v1::CovariateInfo& covariate : info->covariates()) {
    keys.push_back(covariate.name());
    first_values[covariate.name()] = cells().obs.at(covariate.name())[0];
  }
  SamplerOptions sampler;
  if (iterative) {
    sampler.sampler = info->samplers(0);
    sampler.steps = 3;
  }
  const AnnData some = CellsIn(data().control, 12);
  ASSERT_EQ(some.n_obs(), 12);

  // Encode, and Decode what it gave.
  const absl::StatusOr<EncodeResult> encoded = client_->Encode({name()}, some, keys);
  if (claimed.count("Encode")) {
    ASSERT_TRUE(encoded.ok()) << name() << ": " << encoded.status();
    EXPECT_EQ(encoded->mean.rows, 12);
    EXPECT_EQ(encoded->mean.cols, info->latent_dim());
    ExpectFinite(encoded->mean, "Encode");
  } else {
    EXPECT_FALSE(encoded.ok()) << name() << " answered Encode without claiming it";
    EXPECT_NE(encoded.status().code(), absl::StatusCode::kInternal) << encoded.status();
  }
  if (claimed.count("Decode")) {
    ASSERT_TRUE(encoded.ok()) << name() << " claims Decode but not Encode";
    std::map<std::string, std::vector<std::string>> covariates;
    for (const std::string& key : keys) covariates[key] = some.obs.at(key);
    const absl::StatusOr<DecodeResult> decoded = client_->Decode({name()}, encoded->mean, covariates);
    ASSERT_TRUE(decoded.ok()) << name() << ": " << decoded.status();
    EXPECT_EQ(decoded->expression.rows, 12);
    EXPECT_EQ(decoded->expression.cols, cells().n_vars());
    ExpectFinite(decoded->expression, "Decode");
  }

  // Generate: the same seed gives the same cells, another seed others.
  ASSERT_TRUE(claimed.count("Generate"));
  const std::vector<CellGroup> groups = {{first_values, 7}};
  const absl::StatusOr<AnnData> generated = client_->Generate({name()}, groups, 11, 0.0f, false, sampler);
  ASSERT_TRUE(generated.ok()) << name() << ": " << generated.status();
  EXPECT_EQ(generated->n_obs(), 7);
  EXPECT_EQ(generated->n_vars(), cells().n_vars());
  ExpectFinite(generated->x, "Generate");
  const absl::StatusOr<AnnData> again = client_->Generate({name()}, groups, 11, 0.0f, false, sampler);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->x.values, generated->x.values) << name() << ": the same seed gave other cells";
  const absl::StatusOr<AnnData> other = client_->Generate({name()}, groups, 12, 0.0f, false, sampler);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->x.values, generated->x.values) << name() << ": another seed gave the same cells";

  // PredictPerturbation from the control value to the target value.
  std::vector<std::string> context_keys;
  for (const std::string& key : keys) {
    if (key != data().condition_key) context_keys.push_back(key);
  }
  const absl::StatusOr<AnnData> predicted =
      client_->PredictPerturbation({name()}, some, context_keys, data().control, data().target,
                                   PerturbationMethod::kDefault, {}, sampler, /*seed=*/3);
  ASSERT_TRUE(predicted.ok()) << name() << ": " << predicted.status();
  EXPECT_EQ(predicted->n_obs(), 12);
  EXPECT_EQ(predicted->n_vars(), cells().n_vars());
  EXPECT_EQ(predicted->obs.at(data().condition_key), std::vector<std::string>(12, data().target));
  ExpectFinite(predicted->x, "PredictPerturbation");

  // Latent paths.
  if (claimed.count("TraverseLatent")) {
    const absl::StatusOr<LatentPathResult> path = client_->TraverseLatent({name()}, 0, -2, 2, 5, {}, first_values);
    ASSERT_TRUE(path.ok()) << name() << ": " << path.status();
    EXPECT_EQ(path->expression.rows, 5);
    ExpectFinite(path->expression, "TraverseLatent");
  }
  if (claimed.count("Interpolate")) {
    ASSERT_TRUE(encoded.ok());
    const std::vector<float> from(encoded->mean.row(0), encoded->mean.row(0) + encoded->mean.cols);
    const std::vector<float> to(encoded->mean.row(1), encoded->mean.row(1) + encoded->mean.cols);
    const absl::StatusOr<LatentPathResult> path = client_->InterpolateLatents({name()}, from, to, 4, first_values);
    ASSERT_TRUE(path.ok()) << name() << ": " << path.status();
    EXPECT_EQ(path->expression.rows, 4);
  }
}

std::string ParamName(const ::testing::TestParamInfo<std::tuple<int, int>>& info) {
  static const char* kDatasets[] = {"synthetic", "pbmc"};
  return absl::StrCat(kDatasets[std::get<0>(info.param)], "_", Models()[std::get<1>(info.param)].name);
}

INSTANTIATE_TEST_SUITE_P(AllModels, ModelFamilyTest,
                         ::testing::Combine(::testing::Range(0, 2),
                                            ::testing::Range(0, static_cast<int>(Models().size()))),
                         ParamName);

}  // namespace
}  // namespace genailab
