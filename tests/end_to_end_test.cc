// End to end: synthetic data -> genailab-train (one cell type's stimulated cells held out) -> the real
// genailab-server on an ephemeral loopback port -> every RPC through the client library, the held-out
// response scored against the generator's ground truth, every kind of bad request, and /metrics.
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "client/genailab_client.h"
#include "data/h5ad_io.h"
#include "data/preprocessing.h"
#include "data/synthetic.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "tests/process.h"

namespace genailab {
namespace {

using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using testing::ChildProcess;

constexpr char kModel[] = "e2e_cvae";
constexpr char kHeldOutType[] = "type_2";

std::vector<int64_t> CellsWhere(const AnnData& data, const std::string& type, const std::string& condition) {
  std::vector<int64_t> cells;
  for (int64_t i = 0; i < data.n_obs(); ++i) {
    if (data.obs.at("cell_type")[i] == type && data.obs.at("condition")[i] == condition) cells.push_back(i);
  }
  return cells;
}

std::vector<double> ColumnMeans(const DenseMatrix& x) {
  std::vector<double> means(static_cast<size_t>(x.cols), 0.0);
  for (int64_t r = 0; r < x.rows; ++r) {
    for (int64_t c = 0; c < x.cols; ++c) means[c] += x.at(r, c);
  }
  for (double& m : means) m /= static_cast<double>(x.rows);
  return means;
}

// Squared Pearson correlation over the genes in `genes`.
double SquaredPearson(const std::vector<double>& a, const std::vector<double>& b,
                      const std::vector<int64_t>& genes) {
  double ma = 0, mb = 0;
  for (int64_t g : genes) ma += a[g], mb += b[g];
  ma /= genes.size();
  mb /= genes.size();
  double sab = 0, saa = 0, sbb = 0;
  for (int64_t g : genes) {
    sab += (a[g] - ma) * (b[g] - mb);
    saa += (a[g] - ma) * (a[g] - ma);
    sbb += (b[g] - mb) * (b[g] - mb);
  }
  return sab * sab / (saa * sbb);
}

DenseMatrix LogNormalized(DenseMatrix counts) {
  NormalizeTotal(&counts, 1e4);
  Log1p(&counts);
  return counts;
}

class EndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new std::string(std::getenv("TEST_TMPDIR"));
    SyntheticOptions options;
    options.n_genes = 200;
    options.n_cell_types = 4;
    options.n_batches = 2;
    options.cells_per_group = 100;
    options.seed = 11;
    data_ = new AnnData(GenerateSyntheticDataset(options).value());
    const std::string data_path = *tmp_ + "/synthetic.h5ad";
    ASSERT_TRUE(WriteH5ad(data_path, *data_).ok());

    const std::string repository = *tmp_ + "/repository";
    const std::string train_log = *tmp_ + "/train.log";
    const auto trained = testing::RunToCompletion(
        {testing::RunfilePath("trainer/genailab-train"), "--data=" + data_path, "--model=" + std::string(kModel),
         "--repository=" + repository, "--model_type=cvae", "--covariate_keys=cell_type,condition,batch",
         "--condition_key=condition",
         absl::StrCat("--holdout=cell_type=", kHeldOutType, ",condition=stimulated"), "--epochs=60",
         "--latent_dim=10", "--hidden_dims=128", "--seed=3", "--kl_warmup_epochs=10"},
        train_log, absl::Minutes(5));
    ASSERT_TRUE(trained.ok()) << trained.status();
    ASSERT_EQ(*trained, 0) << testing::ReadFileOrEmpty(train_log);

    const std::string port_file = *tmp_ + "/ports.json";
    auto server = ChildProcess::Start(
        {testing::RunfilePath("server/genailab-server"), "--repository=" + repository,
         "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0", "--port_file=" + port_file,
         "--max_cells_per_request=5000", "--device=cpu"},
        *tmp_ + "/server.log");
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = new ChildProcess(std::move(*server));
    const auto ports = testing::WaitForFile(port_file, absl::Seconds(60));
    ASSERT_TRUE(ports.ok()) << testing::ReadFileOrEmpty(*tmp_ + "/server.log");
    const nlohmann::json parsed = nlohmann::json::parse(*ports);
    grpc_port_ = parsed.at("grpc_port").get<int>();
    metrics_port_ = parsed.at("metrics_port").get<int>();

    GenailabClient::Options client_options;
    client_options.target = absl::StrCat("127.0.0.1:", grpc_port_);
    client_options.timeout = absl::Seconds(60);
    client_ = GenailabClient::Create(client_options).value().release();
  }

  static void TearDownTestSuite() {
    delete client_;
    if (server_ != nullptr) {
      // SIGTERM drains and exits cleanly.
      const auto exit_code = server_->Stop(SIGTERM, absl::Seconds(30));
      EXPECT_TRUE(exit_code.ok()) << exit_code.status();
      if (exit_code.ok()) EXPECT_EQ(*exit_code, 0);
      delete server_;
    }
    delete data_;
    delete tmp_;
  }

  std::unique_ptr<v1::GenerativeService::Stub> RawStub() const {
    return v1::GenerativeService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", grpc_port_), grpc::InsecureChannelCredentials()));
  }

  AnnData ControlCellsOf(const std::string& type) const {
    return data_->SelectCells(CellsWhere(*data_, type, "control"));
  }

  static std::string* tmp_;
  static AnnData* data_;
  static ChildProcess* server_;
  static GenailabClient* client_;
  static int grpc_port_;
  static int metrics_port_;
};

std::string* EndToEndTest::tmp_ = nullptr;
AnnData* EndToEndTest::data_ = nullptr;
ChildProcess* EndToEndTest::server_ = nullptr;
GenailabClient* EndToEndTest::client_ = nullptr;
int EndToEndTest::grpc_port_ = 0;
int EndToEndTest::metrics_port_ = 0;

TEST_F(EndToEndTest, ListAndGetModelDescribeTheTrainedModel) {
  const auto models = client_->ListModels();
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 1u);
  const v1::ModelInfo info = client_->GetModel(kModel).value();
  EXPECT_EQ(info.version(), 1);
  EXPECT_EQ(info.model_type(), "cvae");
  EXPECT_EQ(info.gene_names_size(), 200);
  EXPECT_EQ(info.latent_dim(), 10);
  EXPECT_EQ(info.input_space(), "counts");
  EXPECT_EQ(info.condition_key(), "condition");
  EXPECT_THAT(info.supported_rpcs(), Contains("PredictPerturbation"));
  EXPECT_THAT(info.conditions(), Contains("stimulated"));
  ASSERT_EQ(info.covariates_size(), 3);
  EXPECT_THAT(info.covariates(0).values(), Contains(kHeldOutType));
  EXPECT_TRUE(info.training_metrics().count("validation_loss"));
}

TEST_F(EndToEndTest, EncodeDecodeAndGenerate) {
  const AnnData cells = ControlCellsOf("type_0");
  const auto encoded = client_->Encode({kModel}, cells, {"cell_type", "condition", "batch"});
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(encoded->mean.rows, cells.n_obs());
  EXPECT_EQ(encoded->mean.cols, 10);
  for (float v : encoded->variance.values) EXPECT_GT(v, 0.0f);

  const auto decoded = client_->Decode({kModel}, encoded->mean,
                                       {{"cell_type", cells.obs.at("cell_type")},
                                        {"condition", cells.obs.at("condition")},
                                        {"batch", cells.obs.at("batch")}});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->expression.rows, cells.n_obs());
  EXPECT_EQ(decoded->gene_names, data_->var_names);
  // Reconstructions track the data: per-gene means correlate strongly.
  std::vector<int64_t> all_genes(200);
  for (int64_t g = 0; g < 200; ++g) all_genes[g] = g;
  EXPECT_GT(SquaredPearson(ColumnMeans(decoded->expression), ColumnMeans(LogNormalized(cells.x)), all_genes),
            0.9);

  const std::vector<CellGroup> groups = {
      {{{"cell_type", "type_1"}, {"condition", "control"}, {"batch", "batch_0"}}, 30},
      {{{"cell_type", kHeldOutType}, {"condition", "stimulated"}, {"batch", "batch_1"}}, 20}};
  const auto generated = client_->Generate({kModel}, groups, /*seed=*/42);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_EQ(generated->n_obs(), 50);
  EXPECT_EQ(generated->obs.at("cell_type")[49], kHeldOutType);
  const auto again = client_->Generate({kModel}, groups, /*seed=*/42);
  EXPECT_EQ(again->x.values, generated->x.values);
  const auto other_seed = client_->Generate({kModel}, groups, /*seed=*/43);
  EXPECT_NE(other_seed->x.values, generated->x.values);
}

TEST_F(EndToEndTest, PredictsTheHeldOutResponseBetterThanNoChange) {
  const AnnData control = ControlCellsOf(kHeldOutType);
  const auto predicted =
      client_->PredictPerturbation({kModel}, control, {"cell_type", "batch"}, "control", "stimulated");
  ASSERT_TRUE(predicted.ok()) << predicted.status();
  ASSERT_EQ(predicted->n_obs(), control.n_obs());
  EXPECT_EQ(predicted->obs_names, control.obs_names);
  EXPECT_EQ(predicted->obs.at("condition"), std::vector<std::string>(control.n_obs(), "stimulated"));
  EXPECT_EQ(predicted->obs.at("cell_type"), control.obs.at("cell_type"));

  const DenseMatrix real_stimulated =
      LogNormalized(data_->x.SelectRows(CellsWhere(*data_, kHeldOutType, "stimulated")));
  const std::vector<double> truth = ColumnMeans(real_stimulated);
  const std::vector<double> no_change = ColumnMeans(LogNormalized(control.x));
  const std::vector<double> prediction = ColumnMeans(predicted->x);

  // The generator's truly responding genes for the held-out type.
  const DenseMatrix& lfc = data_->varm.at("true_log_fold_change");
  const auto& types = data_->uns_strings.at("true_log_fold_change_cell_types");
  const int64_t column = std::find(types.begin(), types.end(), kHeldOutType) - types.begin();
  std::vector<int64_t> responding;
  for (int64_t g = 0; g < lfc.rows; ++g) {
    if (std::abs(lfc.at(g, column)) > 0.5) responding.push_back(g);
  }
  ASSERT_GE(responding.size(), 10u);

  const double r2_model = SquaredPearson(prediction, truth, responding);
  const double r2_no_change = SquaredPearson(no_change, truth, responding);
  RecordProperty("r2_model", absl::StrCat(r2_model));
  RecordProperty("r2_no_change", absl::StrCat(r2_no_change));
  std::printf("held-out response R^2 over %zu responding genes: model %.3f, no change %.3f\n",
              responding.size(), r2_model, r2_no_change);
  EXPECT_GT(r2_model, r2_no_change + 0.1);

  // Latent arithmetic answers too, and differs from the counterfactual.
  const auto arithmetic = client_->PredictPerturbation({kModel}, control, {"cell_type", "batch"}, "control",
                                                       "stimulated", PerturbationMethod::kLatentArithmetic);
  ASSERT_TRUE(arithmetic.ok()) << arithmetic.status();
  EXPECT_NE(arithmetic->x.values, predicted->x.values);
}

void ExpectStatus(const absl::Status& status, absl::StatusCode code, const std::string& substring) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(substring)) << status;
}

TEST_F(EndToEndTest, BadRequestsGetSpecificErrorsAndTheServerKeepsServing) {
  const AnnData cells = ControlCellsOf("type_0");
  const std::vector<std::string> keys = {"cell_type", "condition", "batch"};

  ExpectStatus(client_->GetModel("no_such_model").status(), absl::StatusCode::kNotFound, "no_such_model");
  ExpectStatus(client_->GetModel(kModel, 7).status(), absl::StatusCode::kNotFound, "7");

  AnnData renamed = cells;
  renamed.var_names[3] = "not_a_gene";
  ExpectStatus(client_->Encode({kModel}, renamed, keys).status(), absl::StatusCode::kInvalidArgument,
               "not_a_gene");

  AnnData unknown_value = cells;
  unknown_value.obs["cell_type"][0] = "type_99";
  ExpectStatus(client_->Encode({kModel}, unknown_value, keys).status(), absl::StatusCode::kInvalidArgument,
               "type_99");

  AnnData with_nan = cells;
  with_nan.x.at(2, 5) = std::numeric_limits<float>::quiet_NaN();
  ExpectStatus(client_->Encode({kModel}, with_nan, keys).status(), absl::StatusCode::kInvalidArgument,
               "cells");

  ExpectStatus(client_->Generate({kModel}, {{{{"cell_type", "type_0"}, {"condition", "control"},
                                              {"batch", "batch_0"}}, 6000}})
                   .status(),
               absl::StatusCode::kInvalidArgument, "n_cells");

  // Malformed matrices that the client library would never build: send them raw.
  auto stub = RawStub();
  v1::EncodeRequest ragged;
  ragged.mutable_model()->set_name(kModel);
  ragged.mutable_cells()->set_rows(2);
  ragged.mutable_cells()->set_cols(2);
  for (const char* gene : {"gene_0000", "gene_0001"}) ragged.mutable_cells()->add_column_names(gene);
  ragged.mutable_cells()->mutable_dense()->add_values(1.0f);
  v1::EncodeResponse response;
  grpc::ClientContext ragged_context;
  grpc::Status status = stub->Encode(&ragged_context, ragged, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("cells"));

  v1::EncodeRequest negative = ragged;
  negative.mutable_cells()->set_rows(-1);
  grpc::ClientContext negative_context;
  status = stub->Encode(&negative_context, negative, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("cells"));

  // Still serving.
  EXPECT_TRUE(client_->Encode({kModel}, cells, keys).ok());
}

TEST_F(EndToEndTest, MetricsCountRequestsByRpcAndCode) {
  ASSERT_TRUE(client_->GetModel(kModel).ok());
  ASSERT_EQ(client_->GetModel("missing_for_metrics").status().code(), absl::StatusCode::kNotFound);
  const auto metrics = testing::HttpGet(metrics_port_, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(*metrics, HasSubstr("genailab_requests_total"));
  EXPECT_THAT(*metrics, HasSubstr("rpc=\"GetModel\""));
  EXPECT_THAT(*metrics, AnyOf(HasSubstr("code=\"NOT_FOUND\""), HasSubstr("code=\"5\"")));
  EXPECT_THAT(*metrics, HasSubstr("genailab_request_duration_seconds_bucket"));
  EXPECT_THAT(*metrics, HasSubstr("genailab_model_loaded"));
  EXPECT_THAT(*metrics, HasSubstr("genailab_cells_processed_total"));
}

}  // namespace
}  // namespace genailab
