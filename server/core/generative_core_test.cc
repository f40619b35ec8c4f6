#include "server/core/generative_core.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <thread>
#include <atomic>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/status_macros.h"
#include "data/matrix_codec.h"
#include "data/status_matchers.h"
#include "server/testing/fake_generative_model.h"
#include "server/testing/fake_iterative_model.h"

namespace genailab {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pointwise;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

v1::Matrix Cells(const std::vector<std::vector<float>>& rows, const std::vector<std::string>& genes) {
  DenseMatrix m(static_cast<int64_t>(rows.size()), rows.empty() ? 0 : static_cast<int64_t>(rows[0].size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) m.at(static_cast<int64_t>(i), static_cast<int64_t>(j)) = rows[i][j];
  }
  v1::Matrix proto;
  MatrixToProto(m, genes, /*sparse=*/false, &proto);
  return proto;
}

void AddCovariate(const std::string& name, const std::vector<std::string>& values,
                  google::protobuf::RepeatedPtrField<v1::CovariateColumn>* columns) {
  v1::CovariateColumn* column = columns->Add();
  column->set_name(name);
  for (const auto& v : values) column->add_values(v);
}

class GenerativeCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = FreshTestRepository();
    WriteFakeVersion(root_.string(), FakeManifest("plain", 1));
    WriteFakeVersion(root_.string(), FakeManifest("plain", 2));
    WriteFakeVersion(root_.string(), FakeConditionalManifest("cond", 1));
    ModelManifest nb = FakeManifest("nb", 1);
    nb.likelihood = "negative_binomial";
    nb.preprocessing.input_space = "counts";
    nb.preprocessing.normalize_total = 10.0;
    nb.preprocessing.log1p = true;
    WriteFakeVersion(root_.string(), nb);

    ModelManager::Options options;
    options.repository_root = root_.string();
    options.loader = FakeModelLoader();
    auto manager = ModelManager::Create(options);
    ASSERT_THAT(manager, IsOk());
    manager_ = std::move(manager).value();
    ASSERT_THAT(manager_->LoadNewest(), IsOk());
    GenerativeCore::Options core_options;
    core_options.max_cells_per_request = 10;
    auto core = GenerativeCore::Create(manager_.get(), core_options);
    ASSERT_THAT(core, IsOk());
    core_ = std::move(core).value();
  }

  const FakeGenerativeModel& Fake(const std::string& name) {
    auto servable = manager_->Get(name, 0);
    EXPECT_THAT(servable, IsOk());
    return static_cast<const FakeGenerativeModel&>(*(*servable)->model);
  }

  v1::EncodeRequest PlainEncode(const v1::Matrix& cells) {
    v1::EncodeRequest request;
    request.mutable_model()->set_name("plain");
    *request.mutable_cells() = cells;
    return request;
  }

  fs::path root_;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<GenerativeCore> core_;
};

TEST_F(GenerativeCoreTest, CreateValidatesArguments) {
  EXPECT_THAT(GenerativeCore::Create(nullptr), StatusIs(kInvalid, HasSubstr("ModelManager")));
  GenerativeCore::Options options;
  options.max_cells_per_request = 0;
  EXPECT_THAT(GenerativeCore::Create(manager_.get(), options),
              StatusIs(kInvalid, HasSubstr("max_cells_per_request")));
}

TEST_F(GenerativeCoreTest, ListsNewestVersionOfEveryModel) {
  auto response = core_->ListModels({});
  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(response->models_size(), 3);
  EXPECT_EQ(response->models(0).name(), "cond");
  EXPECT_EQ(response->models(1).name(), "nb");
  EXPECT_EQ(response->models(2).name(), "plain");
  EXPECT_EQ(response->models(2).version(), 2);
}

TEST_F(GenerativeCoreTest, GetModelFillsEveryField) {
  v1::GetModelRequest request;
  request.mutable_model()->set_name("cond");
  auto response = core_->GetModel(request);
  ASSERT_THAT(response, IsOk());
  const v1::ModelInfo& info = response->model();
  EXPECT_EQ(info.name(), "cond");
  EXPECT_EQ(info.version(), 1);
  EXPECT_EQ(info.model_type(), "cvae");
  EXPECT_EQ(info.likelihood(), "gaussian");
  EXPECT_THAT(info.gene_names(), ElementsAre("g0", "g1", "g2"));
  ASSERT_EQ(info.covariates_size(), 2);
  EXPECT_EQ(info.covariates(0).name(), "cell_type");
  EXPECT_THAT(info.covariates(1).values(), ElementsAre("ctrl", "stim"));
  EXPECT_EQ(info.latent_dim(), 2);
  EXPECT_THAT(info.supported_rpcs(), ElementsAre("Encode", "Decode", "Generate", "PredictPerturbation",
                                                 "Interpolate", "TraverseLatent"));
  EXPECT_EQ(info.training_metrics().at("validation_loss"), 1.5);
  EXPECT_EQ(info.input_space(), "log_normalized");
  EXPECT_EQ(info.output_space(), "log_normalized");
  EXPECT_EQ(info.condition_key(), "condition");
  EXPECT_EQ(info.data_fingerprint(), "abc123");
  EXPECT_EQ(info.created_at(), "2024-01-02T03:04:05Z");
  EXPECT_THAT(info.loaded_versions(), ElementsAre(1));
  EXPECT_EQ(info.hyperparameters_json(), R"({"epochs":"3","lr":"0.001"})");
  EXPECT_THAT(info.conditions(), ElementsAre("ctrl", "stim"));

  request.mutable_model()->set_name("plain");
  response = core_->GetModel(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->model().supported_rpcs(),
              ElementsAre("Encode", "Decode", "Generate", "Interpolate", "TraverseLatent"));
  EXPECT_TRUE(response->model().conditions().empty());
}

TEST_F(GenerativeCoreTest, UnknownModelOrVersionIsNotFound) {
  v1::GetModelRequest request;
  request.mutable_model()->set_name("nope");
  EXPECT_THAT(core_->GetModel(request), StatusIs(absl::StatusCode::kNotFound, HasSubstr("model 'nope'")));
  request.mutable_model()->set_name("plain");
  request.mutable_model()->set_version(7);
  EXPECT_THAT(core_->GetModel(request),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("version 7 not found (loaded: 2)")));
  request.mutable_model()->set_version(-1);
  EXPECT_THAT(core_->GetModel(request), StatusIs(kInvalid, HasSubstr("model.version")));
  request.mutable_model()->clear_name();
  EXPECT_THAT(core_->GetModel(request), StatusIs(kInvalid, HasSubstr("model.name is required")));
  EXPECT_THAT(core_->Encode(PlainEncode(Cells({{1, 2, 3}}, {"g0", "g1", "g2"}))).status(), IsOk());
  v1::EncodeRequest encode = PlainEncode(Cells({{1, 2, 3}}, {"g0", "g1", "g2"}));
  encode.mutable_model()->set_name("missing");
  EXPECT_THAT(core_->Encode(encode), StatusIs(absl::StatusCode::kNotFound, HasSubstr("'missing'")));
}

TEST_F(GenerativeCoreTest, EncodeReordersGenesAndNamesLatentColumns) {
  auto response = core_->Encode(PlainEncode(Cells({{3, 1, 2}}, {"g2", "g0", "g1"})));
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->model().name(), "plain");
  EXPECT_EQ(response->model().version(), 2);
  EXPECT_THAT(Fake("plain").last_call().x.values, ElementsAre(1, 2, 3));
  EXPECT_THAT(response->latent_mean().column_names(), ElementsAre("z0", "z1"));
  EXPECT_THAT(response->latent_mean().dense().values(), ElementsAre(6, 7));
  EXPECT_THAT(response->latent_variance().dense().values(), ElementsAre(1, 1));
}

TEST_F(GenerativeCoreTest, EncodeAppliesTheModelsPreprocessing) {
  v1::EncodeRequest request = PlainEncode(Cells({{1, 1, 2}}, {"g0", "g1", "g2"}));
  request.mutable_model()->set_name("nb");
  ASSERT_THAT(core_->Encode(request), IsOk());
  const std::vector<float> expected = {std::log1p(2.5f), std::log1p(2.5f), std::log1p(5.0f)};
  EXPECT_THAT(Fake("nb").last_call().x.values, Pointwise(FloatNear(1e-5), expected));
}

TEST_F(GenerativeCoreTest, CellsInTheModelsOrderGetTheSameInputAndErrorsAsReorderedOnes) {
  // In the model's gene order the core reads the request's values in place (one pass); in another order
  // it copies and matches them first. Both give the model the same input, and reject a NaN alike.
  v1::EncodeRequest in_order = PlainEncode(Cells({{1, 1, 2}, {0, 7, 0.5}}, {"g0", "g1", "g2"}));
  v1::EncodeRequest reordered = PlainEncode(Cells({{2, 1, 1}, {0.5, 0, 7}}, {"g2", "g0", "g1"}));
  in_order.mutable_model()->set_name("nb");
  reordered.mutable_model()->set_name("nb");
  ASSERT_THAT(core_->Encode(in_order), IsOk());
  const std::vector<float> in_order_x = Fake("nb").last_call().x.values;
  ASSERT_THAT(core_->Encode(reordered), IsOk());
  EXPECT_EQ(in_order_x, Fake("nb").last_call().x.values);
  EXPECT_THAT(in_order_x, Pointwise(FloatNear(1e-5), std::vector<float>{std::log1p(2.5f), std::log1p(2.5f),
                                                                          std::log1p(5.0f), 0.0f,
                                                                          std::log1p(70.0f / 7.5f),
                                                                          std::log1p(5.0f / 7.5f)}));
  for (v1::EncodeRequest* request : {&in_order, &reordered}) {
    request->mutable_cells()->mutable_dense()->set_values(4, std::numeric_limits<float>::infinity());
    EXPECT_THAT(core_->Encode(*request),
                StatusIs(kInvalid, HasSubstr("cells: non-finite value inf at row 1, column 1")));
  }
}

TEST_F(GenerativeCoreTest, EncodeRejectsMalformedCells) {
  EXPECT_THAT(core_->Encode(PlainEncode(Cells({{1, 2}}, {"g0", "g1"}))),
              StatusIs(kInvalid, HasSubstr("cells.column_names: 1 of the model's 3 genes are missing")));
  EXPECT_THAT(core_->Encode(PlainEncode(Cells({{1, 2, 3}}, {}))),
              StatusIs(kInvalid, HasSubstr("cells.column_names is required")));
  EXPECT_THAT(core_->Encode(PlainEncode(Cells({{1, std::nanf(""), 3}}, {"g0", "g1", "g2"}))),
              StatusIs(kInvalid, HasSubstr("cells")));
  v1::Matrix ragged = Cells({{1, 2, 3}}, {"g0", "g1", "g2"});
  ragged.mutable_dense()->add_values(4);
  EXPECT_THAT(core_->Encode(PlainEncode(ragged)), StatusIs(kInvalid, HasSubstr("cells")));
  v1::Matrix negative = Cells({{1, 2, 3}}, {"g0", "g1", "g2"});
  negative.set_rows(-1);
  EXPECT_THAT(core_->Encode(PlainEncode(negative)), StatusIs(kInvalid, HasSubstr("cells.rows")));
  v1::Matrix too_many = Cells(std::vector<std::vector<float>>(11, {1, 2, 3}), {"g0", "g1", "g2"});
  EXPECT_THAT(core_->Encode(PlainEncode(too_many)),
              StatusIs(kInvalid, HasSubstr("cells.rows: 11 cells exceed max_cells_per_request (10)")));
}

TEST_F(GenerativeCoreTest, ConditionalEncodeNeedsValidCovariates) {
  v1::EncodeRequest request = PlainEncode(Cells({{1, 2, 3}, {0, 0, 1}}, {"g0", "g1", "g2"}));
  request.mutable_model()->set_name("cond");
  EXPECT_THAT(core_->Encode(request), StatusIs(kInvalid, HasSubstr("missing required covariate 'cell_type'")));
  AddCovariate("cell_type", {"B", "X"}, request.mutable_covariates());
  AddCovariate("condition", {"ctrl", "stim"}, request.mutable_covariates());
  EXPECT_THAT(core_->Encode(request),
              StatusIs(kInvalid, HasSubstr("covariates[cell_type]: unknown value 'X' at cell 1; allowed: A, B")));
  request.mutable_covariates(0)->set_values(1, "A");
  auto response = core_->Encode(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(Fake("cond").last_call().covariates,
              ElementsAre(ElementsAre(1, 0), ElementsAre(0, 1)));
  // mean = row sum + k + cell_type code.
  EXPECT_THAT(response->latent_mean().dense().values(), ElementsAre(7, 8, 1, 2));
  AddCovariate("donor", {"d", "d"}, request.mutable_covariates());
  EXPECT_THAT(core_->Encode(request), StatusIs(kInvalid, HasSubstr("covariates[donor]: unknown covariate")));
}

TEST_F(GenerativeCoreTest, DecodeReturnsExpressionNamedWithModelGenes) {
  v1::DecodeRequest request;
  request.mutable_model()->set_name("nb");
  *request.mutable_latent() = Cells({{1, 0}, {2, 0}}, {});
  request.add_library_size(100);
  request.add_library_size(200);
  auto response = core_->Decode(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->expression().column_names(), ElementsAre("g0", "g1", "g2"));
  EXPECT_THAT(response->expression().dense().values(), ElementsAre(101, 102, 103, 202, 203, 204));

  request.mutable_model()->set_name("plain");  // Gaussian: library sizes are not used.
  response = core_->Decode(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->expression().dense().values(), ElementsAre(1, 2, 3, 2, 3, 4));

  request.add_library_size(5);
  EXPECT_THAT(core_->Decode(request), StatusIs(kInvalid, HasSubstr("library_size: 3 values for 2 latent rows")));
  request.clear_library_size();
  *request.mutable_latent() = Cells({{1, 0, 0}}, {});
  EXPECT_THAT(core_->Decode(request), StatusIs(kInvalid, HasSubstr("latent.cols: expected latent_dim = 2, got 3")));
}

TEST_F(GenerativeCoreTest, GenerateConcatenatesGroupsWithTheirCovariates) {
  v1::GenerateRequest request;
  request.mutable_model()->set_name("cond");
  request.set_seed(10);
  v1::GenerationGroup* first = request.add_groups();
  (*first->mutable_covariates())["cell_type"] = "B";
  (*first->mutable_covariates())["condition"] = "ctrl";
  first->set_n_cells(2);
  v1::GenerationGroup* second = request.add_groups();
  (*second->mutable_covariates())["cell_type"] = "A";
  (*second->mutable_covariates())["condition"] = "stim";
  second->set_n_cells(1);
  auto response = core_->Generate(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->cells().rows(), 3);
  EXPECT_THAT(response->cells().column_names(), ElementsAre("g0", "g1", "g2"));
  EXPECT_THAT(response->cells().dense().values(), ElementsAre(11, 12, 13, 11, 12, 13, 10, 11, 12));
  ASSERT_EQ(response->covariates_size(), 2);
  EXPECT_EQ(response->covariates(0).name(), "cell_type");
  EXPECT_THAT(response->covariates(0).values(), ElementsAre("B", "B", "A"));
  EXPECT_THAT(response->covariates(1).values(), ElementsAre("ctrl", "ctrl", "stim"));

  (*second->mutable_covariates())["cell_type"] = "Z";
  EXPECT_THAT(core_->Generate(request),
              StatusIs(kInvalid, HasSubstr("groups[1].covariates[cell_type]: unknown value 'Z'")));
}

TEST_F(GenerativeCoreTest, GenerateChecksCellCounts) {
  v1::GenerateRequest request;
  request.mutable_model()->set_name("plain");
  EXPECT_THAT(core_->Generate(request), StatusIs(kInvalid, HasSubstr("groups")));
  request.add_groups()->set_n_cells(0);
  EXPECT_THAT(core_->Generate(request), StatusIs(kInvalid, HasSubstr("groups[0].n_cells must be positive")));
  request.mutable_groups(0)->set_n_cells(6);
  request.add_groups()->set_n_cells(5);
  EXPECT_THAT(core_->Generate(request),
              StatusIs(kInvalid, HasSubstr("groups[1].n_cells: the groups ask for 11 cells")));
  request.mutable_groups(1)->set_n_cells(4);
  auto response = core_->Generate(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->cells().rows(), 10);
  request.set_sample_counts(true);
  EXPECT_THAT(core_->Generate(request), StatusIs(kInvalid, HasSubstr("sample_counts")));
}

TEST_F(GenerativeCoreTest, PredictPerturbationSetsConditionFromSource) {
  v1::PredictPerturbationRequest request;
  request.mutable_model()->set_name("cond");
  *request.mutable_cells() = Cells({{1, 2, 3}, {4, 5, 6}}, {"g0", "g1", "g2"});
  AddCovariate("cell_type", {"A", "B"}, request.mutable_covariates());
  request.set_source_condition("ctrl");
  request.set_target_condition("stim");
  auto response = core_->PredictPerturbation(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->cells().dense().values(), ElementsAre(2, 3, 4, 5, 6, 7));
  EXPECT_THAT(response->cells().column_names(), ElementsAre("g0", "g1", "g2"));
  EXPECT_EQ(response->method(), v1::PERTURBATION_METHOD_COUNTERFACTUAL);
  EXPECT_EQ(response->condition_key(), "condition");
  const auto last = Fake("cond").last_call();
  EXPECT_THAT(last.covariates, ElementsAre(ElementsAre(0, 1), ElementsAre(0, 0)));
  EXPECT_EQ(last.method, PerturbationMethod::kCounterfactual);

  // A condition column in the request is overridden by source_condition.
  AddCovariate("condition", {"stim", "stim"}, request.mutable_covariates());
  request.set_method(v1::PERTURBATION_METHOD_LATENT_ARITHMETIC);
  response = core_->PredictPerturbation(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->method(), v1::PERTURBATION_METHOD_LATENT_ARITHMETIC);
  EXPECT_THAT(Fake("cond").last_call().covariates, ElementsAre(ElementsAre(0, 1), ElementsAre(0, 0)));

  request.set_source_condition("heat");
  EXPECT_THAT(core_->PredictPerturbation(request),
              StatusIs(kInvalid, HasSubstr("source_condition: unknown condition 'heat'; allowed: ctrl, stim")));
  request.set_source_condition("ctrl");
  request.set_target_condition("");
  EXPECT_THAT(core_->PredictPerturbation(request), StatusIs(kInvalid, HasSubstr("target_condition is required")));
}

// Calls (core.*rpc)(request) without and with omit_column_names: `matrix` of the response must hold the
// same values both times, named `names` only without.
template <typename Request, typename Response>
void ExpectNamesOnlyWithoutOmit(const GenerativeCore& core,
                                absl::StatusOr<Response> (GenerativeCore::*rpc)(const Request&, const CallContext&)
                                    const,
                                Request request, const v1::Matrix& (Response::*matrix)() const,
                                const std::vector<std::string>& names) {
  request.set_omit_column_names(false);
  absl::StatusOr<Response> named = (core.*rpc)(request, CallContext());
  request.set_omit_column_names(true);
  absl::StatusOr<Response> bare = (core.*rpc)(request, CallContext());
  ASSERT_THAT(named, IsOk());
  ASSERT_THAT(bare, IsOk());
  EXPECT_THAT(((*named).*matrix)().column_names(), ElementsAreArray(names));
  EXPECT_THAT(((*bare).*matrix)().column_names(), IsEmpty());
  EXPECT_EQ(((*bare).*matrix)().cols(), static_cast<int64_t>(names.size()));
  EXPECT_THAT(((*bare).*matrix)().dense().values(), ElementsAreArray(((*named).*matrix)().dense().values()));
}

TEST_F(GenerativeCoreTest, OmitColumnNamesLeavesTheNamesOutAndTheValuesAlone) {
  const v1::EncodeRequest encode = PlainEncode(Cells({{3, 1, 2}}, {"g2", "g0", "g1"}));
  ExpectNamesOnlyWithoutOmit(*core_, &GenerativeCore::Encode, encode, &v1::EncodeResponse::latent_mean,
                             {"z0", "z1"});
  ExpectNamesOnlyWithoutOmit(*core_, &GenerativeCore::Encode, encode, &v1::EncodeResponse::latent_variance,
                             {"z0", "z1"});

  v1::DecodeRequest decode;
  decode.mutable_model()->set_name("plain");
  *decode.mutable_latent() = Cells({{1, 0}}, {});
  ExpectNamesOnlyWithoutOmit(*core_, &GenerativeCore::Decode, decode, &v1::DecodeResponse::expression,
                             {"g0", "g1", "g2"});

  v1::GenerateRequest generate;
  generate.mutable_model()->set_name("cond");
  generate.set_seed(10);
  v1::GenerationGroup* group = generate.add_groups();
  (*group->mutable_covariates())["cell_type"] = "B";
  (*group->mutable_covariates())["condition"] = "ctrl";
  group->set_n_cells(2);
  ExpectNamesOnlyWithoutOmit(*core_, &GenerativeCore::Generate, generate, &v1::GenerateResponse::cells,
                             {"g0", "g1", "g2"});
  // The cells' covariates are data, not names: still there. And every GenerateStream message omits too.
  generate.set_omit_column_names(true);
  auto bare_cells = core_->Generate(generate);
  ASSERT_THAT(bare_cells, IsOk());
  EXPECT_EQ(bare_cells->covariates_size(), 2);
  v1::GenerateStreamRequest stream;
  *stream.mutable_request() = generate;
  stream.set_chunk_cells(1);
  int messages = 0;
  ASSERT_THAT(core_->GenerateStream(stream, CallContext(),
                                    [&](const v1::GenerateResponse& message) {
                                      ++messages;
                                      EXPECT_THAT(message.cells().column_names(), IsEmpty());
                                      return true;
                                    }),
              IsOk());
  EXPECT_EQ(messages, 2);

  v1::PredictPerturbationRequest predict;
  predict.mutable_model()->set_name("cond");
  *predict.mutable_cells() = Cells({{1, 2, 3}}, {"g0", "g1", "g2"});
  AddCovariate("cell_type", {"A"}, predict.mutable_covariates());
  predict.set_source_condition("ctrl");
  predict.set_target_condition("stim");
  ExpectNamesOnlyWithoutOmit(*core_, &GenerativeCore::PredictPerturbation, predict,
                             &v1::PredictPerturbationResponse::cells, {"g0", "g1", "g2"});
}

TEST_F(GenerativeCoreTest, PredictPerturbationNeedsAConditionKey) {
  v1::PredictPerturbationRequest request;
  request.mutable_model()->set_name("plain");
  *request.mutable_cells() = Cells({{1, 2, 3}}, {"g0", "g1", "g2"});
  request.set_source_condition("ctrl");
  request.set_target_condition("stim");
  EXPECT_THAT(core_->PredictPerturbation(request),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("PredictPerturbation")));
}

// The engine behind the core: batching, seed blocks, streaming, deadlines and iterative sampling.
class GenerativeCoreEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = FreshTestRepository();
    WriteFakeVersion(root_.string(), FakeConditionalManifest("cond", 1));
    iterative_root_ = root_ / "iterative";
    fs::create_directories(iterative_root_);
    WriteFakeVersion(iterative_root_.string(), FakeConditionalManifest("iter", 1, /*n_genes=*/2));
  }

  // A core over `root` with batches of at most 4 cells, split the same way, waiting 1 ms for company.
  void MakeCore(const fs::path& root, ModelLoader loader) {
    ModelManager::Options options;
    options.repository_root = root.string();
    options.loader = std::move(loader);
    options.instances = 2;
    options.batching.max_batch_cells = 4;
    options.batching.max_queue_delay = absl::Milliseconds(1);
    auto manager = ModelManager::Create(options);
    ASSERT_THAT(manager, IsOk());
    manager_ = std::move(manager).value();
    ASSERT_THAT(manager_->LoadNewest(), IsOk());
    GenerativeCore::Options core_options;
    core_options.max_cells_per_request = 3 * kGenerateBlockCells;
    core_options.split_cells = 4;
    auto core = GenerativeCore::Create(manager_.get(), core_options);
    ASSERT_THAT(core, IsOk());
    core_ = std::move(core).value();
  }

  static v1::GenerateRequest CondGenerate(uint64_t seed, int64_t b_cells, int64_t a_cells) {
    v1::GenerateRequest request;
    request.mutable_model()->set_name("cond");
    request.set_seed(seed);
    v1::GenerationGroup* first = request.add_groups();
    (*first->mutable_covariates())["cell_type"] = "B";
    (*first->mutable_covariates())["condition"] = "ctrl";
    first->set_n_cells(b_cells);
    v1::GenerationGroup* second = request.add_groups();
    (*second->mutable_covariates())["cell_type"] = "A";
    (*second->mutable_covariates())["condition"] = "stim";
    second->set_n_cells(a_cells);
    return request;
  }

  fs::path root_;
  fs::path iterative_root_;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<GenerativeCore> core_;
};

TEST_F(GenerativeCoreEngineTest, SplitAndBatchedEncodeEqualsTheUnbatchedModel) {
  MakeCore(root_, FakeModelLoader());
  // 9 rows split into tasks of 4, 4 and 1, batched with other requests' rows by 8 client threads.
  std::vector<std::vector<float>> rows;
  for (int i = 0; i < 9; ++i) rows.push_back({float(i), float(2 * i), 1.0f});
  v1::EncodeRequest request;
  request.mutable_model()->set_name("cond");
  *request.mutable_cells() = Cells(rows, {"g0", "g1", "g2"});
  AddCovariate("cell_type", {"A", "B", "A", "B", "A", "B", "A", "B", "B"}, request.mutable_covariates());
  AddCovariate("condition", std::vector<std::string>(9, "ctrl"), request.mutable_covariates());
  // The unbatched reference: the model called directly on all rows.
  auto servable = manager_->Get("cond", 0);
  ASSERT_THAT(servable, IsOk());
  DenseMatrix x(9, 3);
  for (int i = 0; i < 9; ++i) {
    for (int j = 0; j < 3; ++j) x.at(i, j) = rows[static_cast<size_t>(i)][static_cast<size_t>(j)];
  }
  const auto reference = (*servable)->model->Encode(x, {{0, 1, 0, 1, 0, 1, 0, 1, 1}, std::vector<int64_t>(9, 0)});
  ASSERT_THAT(reference, IsOk());

  std::vector<std::thread> clients;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      for (int k = 0; k < 5; ++k) {
        auto response = core_->Encode(request);
        if (!response.ok() ||
            !std::equal(response->latent_mean().dense().values().begin(), response->latent_mean().dense().values().end(),
                        reference->mean.values.begin(), reference->mean.values.end())) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(GenerativeCoreEngineTest, GenerateGivesTheSameCellsAloneAndInACrowd) {
  MakeCore(root_, FakeModelLoader());
  const v1::GenerateRequest request = CondGenerate(7, 3, 2);
  auto alone = core_->Generate(request);
  ASSERT_THAT(alone, IsOk());
  std::vector<std::thread> crowd;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 8; ++t) {
    crowd.emplace_back([&, t] {
      for (int k = 0; k < 5; ++k) {
        // Companions with other seeds and sizes share the batches.
        auto other = core_->Generate(CondGenerate(100 + t, 1 + t % 3, 1));
        auto same = core_->Generate(request);
        if (!other.ok() || !same.ok() ||
            same->cells().dense().SerializeAsString() != alone->cells().dense().SerializeAsString()) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& thread : crowd) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(GenerativeCoreEngineTest, SeedBlocksAndStreamChunksReproduceUnaryGenerate) {
  MakeCore(root_, FakeModelLoader());
  // Two and a half seed blocks.
  const int64_t total = 2 * kGenerateBlockCells + kGenerateBlockCells / 2;
  const v1::GenerateRequest request = CondGenerate(3, kGenerateBlockCells + 10, total - kGenerateBlockCells - 10);
  auto unary = core_->Generate(request);
  ASSERT_THAT(unary, IsOk());
  ASSERT_EQ(unary->cells().rows(), total);
  // Block 0 is seeded with the request's seed (fake: seed + gene + code), later blocks are not.
  const auto& values = unary->cells().dense().values();
  EXPECT_EQ(values[0], 3 + 0 + 1);
  EXPECT_NE(values[kGenerateBlockCells * 3], 3 + 0 + 1);
  EXPECT_EQ(BlockSeed(3, 0), 3u);
  EXPECT_NE(BlockSeed(3, 1), BlockSeed(3, 2));

  v1::GenerateStreamRequest stream;
  *stream.mutable_request() = request;
  stream.set_chunk_cells(1000);
  std::vector<float> streamed;
  std::vector<std::string> cell_types;
  std::vector<int64_t> chunk_rows;
  ASSERT_THAT(core_->GenerateStream(stream, CallContext(),
                                    [&](const v1::GenerateResponse& chunk) {
                                      chunk_rows.push_back(chunk.cells().rows());
                                      streamed.insert(streamed.end(), chunk.cells().dense().values().begin(),
                                                      chunk.cells().dense().values().end());
                                      cell_types.insert(cell_types.end(), chunk.covariates(0).values().begin(),
                                                        chunk.covariates(0).values().end());
                                      return true;
                                    }),
              IsOk());
  ASSERT_EQ(chunk_rows.size(), static_cast<size_t>((total + 999) / 1000));
  EXPECT_EQ(chunk_rows.front(), 1000);
  EXPECT_EQ(chunk_rows.back(), total % 1000);
  EXPECT_TRUE(std::equal(streamed.begin(), streamed.end(), values.begin(), values.end()));
  EXPECT_TRUE(std::equal(cell_types.begin(), cell_types.end(), unary->covariates(0).values().begin(),
                         unary->covariates(0).values().end()));

  // A client that stops reading ends the stream.
  int written = 0;
  EXPECT_THAT(core_->GenerateStream(stream, CallContext(), [&](const v1::GenerateResponse&) { return ++written < 2; }),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("stopped reading")));
  EXPECT_EQ(written, 2);
  stream.set_chunk_cells(-1);
  EXPECT_THAT(core_->GenerateStream(stream, CallContext(), [](const v1::GenerateResponse&) { return true; }),
              StatusIs(kInvalid, HasSubstr("chunk_cells")));
}

// A fake whose Generate waits (up to a second) until another Generate runs at the same time, and
// records how many ran at once.
class GatedGenerateModel final : public FakeGenerativeModel {
 public:
  struct Gate {
    absl::Mutex mu;
    int running ABSL_GUARDED_BY(mu) = 0;
    int most_running ABSL_GUARDED_BY(mu) = 0;
  };
  GatedGenerateModel(ModelManifest manifest, std::shared_ptr<Gate> gate)
      : FakeGenerativeModel(std::move(manifest)), gate_(std::move(gate)) {}

  absl::StatusOr<DenseMatrix> Generate(int64_t n, const CovariateCodes& covariates, uint64_t seed,
                                       float library_size, bool sample_counts) const override {
    {
      absl::MutexLock lock(&gate_->mu);
      ++gate_->running;
      gate_->most_running = std::max(gate_->most_running, gate_->running);
      const auto two_running = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(gate_->mu) { return gate_->running >= 2; };
      gate_->mu.AwaitWithTimeout(absl::Condition(&two_running), absl::Seconds(1));
    }
    absl::StatusOr<DenseMatrix> cells = FakeGenerativeModel::Generate(n, covariates, seed, library_size, sample_counts);
    absl::MutexLock lock(&gate_->mu);
    --gate_->running;
    return cells;
  }

 private:
  const std::shared_ptr<Gate> gate_;
};

TEST_F(GenerativeCoreEngineTest, AStreamGeneratesItsNextBlockWhileItWritesTheCurrentOne) {
  // Two instances: a stream of three seed blocks keeps both busy (the next block is generated while
  // the current one is written), so two Generate calls run at once. Generated one after the other,
  // each would wait out the gate's second alone.
  auto gate = std::make_shared<GatedGenerateModel::Gate>();
  MakeCore(root_, [gate](const std::string& directory,
                         const std::string& device) -> absl::StatusOr<std::unique_ptr<GenerativeModel>> {
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<GenerativeModel> fake, FakeModelLoader()(directory, device));
    return std::unique_ptr<GenerativeModel>(std::make_unique<GatedGenerateModel>(fake->manifest(), gate));
  });
  v1::GenerateStreamRequest stream;
  *stream.mutable_request() = CondGenerate(3, 2 * kGenerateBlockCells, 5);
  stream.set_chunk_cells(kGenerateBlockCells);
  int64_t streamed = 0;
  ASSERT_THAT(core_->GenerateStream(stream, CallContext(),
                                    [&](const v1::GenerateResponse& chunk) {
                                      streamed += chunk.cells().rows();
                                      return true;
                                    }),
              IsOk());
  EXPECT_EQ(streamed, 2 * kGenerateBlockCells + 5);
  absl::MutexLock lock(&gate->mu);
  EXPECT_EQ(gate->most_running, 2);
}

TEST_F(GenerativeCoreEngineTest, ExpiredOrCancelledRequestsNeverReachTheModel) {
  MakeCore(root_, FakeModelLoader());
  CallContext expired;
  expired.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_THAT(core_->Generate(CondGenerate(1, 1, 1), expired), StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("deadline")));
  CallContext cancelled;
  cancelled.is_cancelled = [] { return true; };
  EXPECT_THAT(core_->Generate(CondGenerate(1, 1, 1), cancelled), StatusIs(absl::StatusCode::kCancelled, HasSubstr("cancelled")));
}

TEST_F(GenerativeCoreEngineTest, IterativeModelsSampleThroughTheStepScheduler) {
  MakeCore(iterative_root_, FakeIterativeModelLoader());
  v1::GenerateRequest request;
  request.mutable_model()->set_name("iter");
  request.set_seed(5);
  v1::GenerationGroup* group = request.add_groups();
  (*group->mutable_covariates())["cell_type"] = "B";
  (*group->mutable_covariates())["condition"] = "ctrl";
  group->set_n_cells(2);
  request.mutable_sampler()->set_sampler("heun");
  request.mutable_sampler()->set_steps(2);
  auto response = core_->Generate(request);
  ASSERT_THAT(response, IsOk());
  // seed + gene + code(B) + 1000 * steps.
  EXPECT_THAT(response->cells().dense().values(), ElementsAre(2006, 2007, 2006, 2007));
  auto info = core_->GetModel([] {
    v1::GetModelRequest r;
    r.mutable_model()->set_name("iter");
    return r;
  }());
  ASSERT_THAT(info, IsOk());
  EXPECT_THAT(info->model().samplers(), ElementsAre("euler", "heun"));
  request.mutable_sampler()->set_sampler("ddpm");
  EXPECT_THAT(core_->Generate(request), StatusIs(kInvalid, HasSubstr("sampler.sampler: unknown sampler 'ddpm'")));
}

// A negative-binomial iterative model (e.g. diffusion in such a VAE's latent space) decodes with the
// request's library size, through the step scheduler too.
TEST_F(GenerativeCoreEngineTest, IterativeNegativeBinomialSessionsGetTheLibrarySize) {
  const fs::path nb_root = root_ / "iterative_nb";
  fs::create_directories(nb_root);
  ModelManifest manifest = FakeConditionalManifest("iter_nb", 1, /*n_genes=*/2);
  manifest.likelihood = "negative_binomial";
  WriteFakeVersion(nb_root.string(), manifest);
  MakeCore(nb_root, FakeIterativeModelLoader());
  v1::GenerateRequest request;
  request.mutable_model()->set_name("iter_nb");
  request.set_seed(5);
  v1::GenerationGroup* group = request.add_groups();
  (*group->mutable_covariates())["cell_type"] = "B";
  (*group->mutable_covariates())["condition"] = "ctrl";
  group->set_n_cells(2);
  request.mutable_sampler()->set_steps(2);
  request.set_library_size(3);
  auto response = core_->Generate(request);
  ASSERT_THAT(response, IsOk());
  // seed + gene + code(B) + 1000 * steps + 10000 * library size.
  EXPECT_THAT(response->cells().dense().values(), ElementsAre(32006, 32007, 32006, 32007));
  // Without one, the session is left at the model's default (no library size set).
  request.set_library_size(0);
  response = core_->Generate(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->cells().dense().values(), ElementsAre(2006, 2007, 2006, 2007));
}

TEST_F(GenerativeCoreEngineTest, ReloadUnderContinuousLoadDropsNoRequest) {
  MakeCore(root_, FakeModelLoader());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> answered{0};
  std::atomic<int64_t> newest_seen{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t) {
    clients.emplace_back([&, t] {
      while (!stop.load()) {
        absl::Status status;
        if (t % 2 == 0) {
          auto response = core_->Generate(CondGenerate(t, 2, 1));
          status = response.status();
          if (response.ok()) newest_seen = std::max<int64_t>(newest_seen.load(), response->model().version());
        } else {
          v1::EncodeRequest request;
          request.mutable_model()->set_name("cond");
          *request.mutable_cells() = Cells({{1, 2, 3}, {4, 5, 6}}, {"g0", "g1", "g2"});
          AddCovariate("cell_type", {"A", "B"}, request.mutable_covariates());
          AddCovariate("condition", {"ctrl", "stim"}, request.mutable_covariates());
          status = core_->Encode(request).status();
        }
        if (!status.ok()) {
          ++failures;
          ADD_FAILURE() << status;
        }
        ++answered;
      }
    });
  }
  // Publish and load versions 2..6 while the clients run; each swap retires the previous version.
  for (int64_t version = 2; version <= 6; ++version) {
    const int before = answered.load();
    while (answered.load() < before + 20) absl::SleepFor(absl::Milliseconds(1));
    WriteFakeVersion(root_.string(), FakeConditionalManifest("cond", version));
    auto changed = manager_->Refresh();
    ASSERT_THAT(changed, IsOk());
    EXPECT_EQ(*changed, 1);
  }
  while (newest_seen.load() < 6) absl::SleepFor(absl::Milliseconds(1));
  stop = true;
  for (auto& client : clients) client.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(newest_seen.load(), 6);
  EXPECT_THAT(manager_->ServedVersions("cond"), ElementsAre(6));
}

TEST_F(GenerativeCoreEngineTest, AsyncCallsFinishOnTheWorkerWithoutParkingAThread) {
  MakeCore(root_, FakeModelLoader());
  // Many asynchronous calls in flight from one thread: each `done` runs once, on a worker thread.
  constexpr int kCalls = 40;
  std::vector<v1::GenerateResponse> responses(kCalls);
  std::atomic<int> done{0};
  std::atomic<int> ok{0};
  std::atomic<int> on_caller{0};
  const std::thread::id caller = std::this_thread::get_id();
  for (int i = 0; i < kCalls; ++i) {
    core_->GenerateAsync(CondGenerate(static_cast<uint64_t>(i), 2, 1), CallContext(), &responses[i],
                         [&](absl::Status status) {
                           if (status.ok()) ++ok;
                           if (std::this_thread::get_id() == caller) ++on_caller;
                           ++done;
                         });
  }
  while (done.load() < kCalls) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(ok.load(), kCalls);
  EXPECT_EQ(on_caller.load(), 0);
  // The same cells as the synchronous call.
  auto sync = core_->Generate(CondGenerate(7, 2, 1));
  ASSERT_THAT(sync, IsOk());
  EXPECT_THAT(responses[7].cells().dense().values(), Pointwise(FloatNear(0), sync->cells().dense().values()));
  EXPECT_EQ(responses[7].cells().rows(), 3);

  // A refused request answers at once, on the caller's thread.
  v1::GenerateRequest unknown = CondGenerate(1, 1, 1);
  unknown.mutable_model()->set_name("nope");
  absl::Status refused;
  v1::GenerateResponse unused;
  core_->GenerateAsync(unknown, CallContext(), &unused, [&](absl::Status status) { refused = status; });
  EXPECT_EQ(refused.code(), absl::StatusCode::kNotFound);
}

TEST_F(GenerativeCoreEngineTest, VersionRetiredUnderAnAsyncCallUnloadsWhenTheCallLetsGo) {
  MakeCore(root_, FakeModelLoader());
  // The call's completion holds the last reference to version 1 once it is unloaded: the version is
  // then deleted off the worker thread that runs the completion (whose own instance it is).
  v1::EncodeRequest request;
  request.mutable_model()->set_name("cond");
  *request.mutable_cells() = Cells({{1, 2, 3}}, {"g0", "g1", "g2"});
  AddCovariate("cell_type", {"A"}, request.mutable_covariates());
  AddCovariate("condition", {"ctrl"}, request.mutable_covariates());
  absl::Notification running, unloaded, finished;
  v1::EncodeResponse response;
  absl::Status result = absl::UnknownError("not called");
  core_->EncodeAsync(request, CallContext(), &response, [&](absl::Status status) {
    result = status;
    running.Notify();
    unloaded.WaitForNotification();
    finished.Notify();
  });
  running.WaitForNotification();
  ASSERT_THAT(manager_->UnloadModel("cond", 1), IsOk());
  unloaded.Notify();
  finished.WaitForNotification();
  EXPECT_THAT(result, IsOk());
  EXPECT_EQ(response.model().version(), 1);
  const auto state_of_1 = [&] {
    for (const VersionInfo& info : manager_->Versions("cond")) {
      if (info.version == 1) return info.state;
    }
    return VersionState::kFailed;
  };
  while (state_of_1() != VersionState::kUnloaded) absl::SleepFor(absl::Milliseconds(1));
}

}  // namespace
}  // namespace genailab
