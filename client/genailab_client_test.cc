#include "client/genailab_client.h"

#include <memory>
#include <string>
#include <vector>

#include "client/fake_generative_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 3 cells x 4 genes, 2 of 12 values nonzero (sparse enough for kAuto to choose CSR).
AnnData SparseCells() {
  AnnData cells;
  cells.x = DenseMatrix(3, 4);
  cells.x.at(0, 1) = 2.0f;
  cells.x.at(2, 3) = 5.0f;
  cells.obs_names = {"c0", "c1", "c2"};
  cells.var_names = {"gene_a", "gene_b", "gene_c", "gene_d"};
  cells.obs["cell_type"] = {"B", "NK", "B"};
  cells.obs["condition"] = {"control", "control", "control"};
  cells.obs_numeric["batch"] = {1.0, 2.0, 1.5};
  return cells;
}

// 2 cells x 2 genes, all nonzero.
AnnData DenseCells() {
  AnnData cells;
  cells.x = DenseMatrix(2, 2);
  cells.x.values = {1.0f, 2.0f, 3.0f, 4.0f};
  cells.obs_names = {"a", "b"};
  cells.var_names = {"gene_a", "gene_b"};
  cells.obs["cell_type"] = {"B", "NK"};
  return cells;
}

class GenailabClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<GenailabClient> NewClient(MatrixEncoding encoding = MatrixEncoding::kAuto) {
    GenailabClient::Options options;
    options.encoding = encoding;
    absl::StatusOr<std::unique_ptr<GenailabClient>> client =
        GenailabClient::Create(server_.NewChannel(), options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(client).value();
  }

  FakeServer server_;
};

TEST_F(GenailabClientTest, ListModelsReturnsEveryModel) {
  absl::StatusOr<std::vector<v1::ModelInfo>> models = NewClient()->ListModels();
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ((*models)[0].name(), "pbmc");
  EXPECT_EQ((*models)[0].training_metrics().at("val_elbo"), -123.5);
  EXPECT_EQ((*models)[1].name(), "plain");
}

TEST_F(GenailabClientTest, GetModelKeepsServerNotFoundCodeAndMessage) {
  absl::StatusOr<v1::ModelInfo> info = NewClient()->GetModel("nope", 4);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(info.status().message(), "model 'nope' not found");
}

TEST_F(GenailabClientTest, ServerErrorKeepsCodeAndMessage) {
  server_.service().set_error(
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "cells: gene 'X' is not in the model"));
  absl::StatusOr<EncodeResult> result = NewClient()->Encode({"pbmc", 0}, DenseCells(), {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(result.status().message(), "cells: gene 'X' is not in the model");
}

TEST_F(GenailabClientTest, EncodeSendsDenseMatrixGenesCovariatesAndMatching) {
  GeneMatchingOptions matching;
  matching.zero_fill_missing = true;
  absl::StatusOr<EncodeResult> result =
      NewClient()->Encode({"pbmc", 2}, DenseCells(), {"cell_type"}, matching);
  ASSERT_TRUE(result.ok()) << result.status();

  const v1::EncodeRequest request = server_.service().last_encode();
  EXPECT_EQ(request.model().name(), "pbmc");
  EXPECT_EQ(request.model().version(), 2);
  ASSERT_TRUE(request.cells().has_dense());
  EXPECT_EQ(request.cells().rows(), 2);
  EXPECT_EQ(request.cells().cols(), 2);
  EXPECT_THAT(request.cells().dense().values(), ElementsAre(1.0f, 2.0f, 3.0f, 4.0f));
  EXPECT_THAT(request.cells().column_names(), ElementsAre("gene_a", "gene_b"));
  ASSERT_EQ(request.covariates_size(), 1);
  EXPECT_EQ(request.covariates(0).name(), "cell_type");
  EXPECT_THAT(request.covariates(0).values(), ElementsAre("B", "NK"));
  EXPECT_TRUE(request.gene_matching().zero_fill_missing());
  EXPECT_FALSE(request.gene_matching().ignore_unknown());

  EXPECT_EQ(result->version, 2);
  EXPECT_THAT(result->mean.values, ElementsAre(1.0f, 2.0f, 3.0f, 4.0f));
  EXPECT_EQ(result->variance.rows, 2);
  EXPECT_THAT(result->variance.values, ElementsAre(1.0f, 1.0f, 1.0f, 1.0f));
}

TEST_F(GenailabClientTest, EncodeSendsSparseCellsAsCsrAndNumericCovariatesAsText) {
  absl::StatusOr<EncodeResult> result =
      NewClient(MatrixEncoding::kAuto)->Encode({"pbmc", 0}, SparseCells(), {"batch", "cell_type"});
  ASSERT_TRUE(result.ok()) << result.status();

  const v1::EncodeRequest request = server_.service().last_encode();
  ASSERT_TRUE(request.cells().has_csr());
  EXPECT_THAT(request.cells().csr().data(), ElementsAre(2.0f, 5.0f));
  EXPECT_THAT(request.cells().csr().indices(), ElementsAre(1, 3));
  EXPECT_THAT(request.cells().csr().indptr(), ElementsAre(0, 1, 1, 2));
  EXPECT_THAT(request.cells().column_names(), ElementsAre("gene_a", "gene_b", "gene_c", "gene_d"));
  ASSERT_EQ(request.covariates_size(), 2);
  EXPECT_EQ(request.covariates(0).name(), "batch");
  EXPECT_THAT(request.covariates(0).values(), ElementsAre("1", "2", "1.5"));
  // The fake echoes the decoded cells: CSR arrived intact.
  EXPECT_EQ(result->mean.values, SparseCells().x.values);
}

TEST_F(GenailabClientTest, ForcedEncodingOverridesDensity) {
  ASSERT_TRUE(NewClient(MatrixEncoding::kDense)->Encode({"pbmc", 0}, SparseCells(), {}).ok());
  EXPECT_TRUE(server_.service().last_encode().cells().has_dense());
  ASSERT_TRUE(NewClient(MatrixEncoding::kCsr)->Encode({"pbmc", 0}, DenseCells(), {}).ok());
  EXPECT_TRUE(server_.service().last_encode().cells().has_csr());
}

TEST_F(GenailabClientTest, MissingObsColumnIsNotFoundBeforeAnyRpc) {
  absl::StatusOr<EncodeResult> result =
      NewClient()->Encode({"pbmc", 0}, DenseCells(), {"cell_type", "donor"});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr("donor"));
  absl::StatusOr<AnnData> predicted = NewClient()->PredictPerturbation(
      {"pbmc", 0}, DenseCells(), {"donor"}, "control", "stimulated");
  EXPECT_EQ(predicted.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(predicted.status().message(), HasSubstr("donor"));
  EXPECT_EQ(server_.service().call_count(), 0);
}

TEST_F(GenailabClientTest, InconsistentCellsAreRejectedBeforeAnyRpc) {
  AnnData cells = DenseCells();
  cells.var_names.pop_back();
  absl::StatusOr<EncodeResult> result = NewClient()->Encode({"pbmc", 0}, cells, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("var_names"));
  EXPECT_EQ(server_.service().call_count(), 0);
}

TEST_F(GenailabClientTest, DecodeSendsLatentCovariatesAndLibrarySizes) {
  DenseMatrix latent(2, 3);
  latent.values = {0.5f, 1.0f, 1.5f, -1.0f, 0.0f, 2.0f};
  absl::StatusOr<DecodeResult> result =
      NewClient()->Decode({"pbmc", 0}, latent, {{"cell_type", {"B", "NK"}}}, {1000.0f, 2000.0f});
  ASSERT_TRUE(result.ok()) << result.status();

  const v1::DecodeRequest request = server_.service().last_decode();
  ASSERT_TRUE(request.latent().has_dense());
  EXPECT_EQ(request.latent().column_names_size(), 0);
  EXPECT_THAT(request.library_size(), ElementsAre(1000.0f, 2000.0f));
  ASSERT_EQ(request.covariates_size(), 1);
  EXPECT_THAT(request.covariates(0).values(), ElementsAre("B", "NK"));
  EXPECT_EQ(result->expression.values, latent.values);
  EXPECT_THAT(result->gene_names, ElementsAre("g0", "g1", "g2"));
}

TEST_F(GenailabClientTest, DecodeRejectsCovariateOfWrongLengthBeforeAnyRpc) {
  absl::StatusOr<DecodeResult> result =
      NewClient()->Decode({"pbmc", 0}, DenseMatrix(2, 3), {{"cell_type", {"B"}}});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("cell_type"));
  EXPECT_EQ(server_.service().call_count(), 0);
}

TEST_F(GenailabClientTest, GenerateReturnsAnnDataWithCovariatesAndCellNames) {
  std::vector<CellGroup> groups = {{{{"cell_type", "B"}}, 2}, {{{"cell_type", "NK"}}, 1}};
  absl::StatusOr<AnnData> cells =
      NewClient()->Generate({"pbmc", 0}, groups, /*seed=*/42, /*library_size=*/5000.0f,
                            /*sample_counts=*/true);
  ASSERT_TRUE(cells.ok()) << cells.status();

  const v1::GenerateRequest request = server_.service().last_generate();
  EXPECT_EQ(request.seed(), 42u);
  EXPECT_EQ(request.library_size(), 5000.0f);
  EXPECT_TRUE(request.sample_counts());
  ASSERT_EQ(request.groups_size(), 2);
  EXPECT_EQ(request.groups(1).covariates().at("cell_type"), "NK");
  EXPECT_EQ(request.groups(1).n_cells(), 1);

  EXPECT_EQ(cells->n_obs(), 3);
  EXPECT_THAT(cells->var_names, ElementsAre("gene_a", "gene_b", "gene_c"));
  EXPECT_THAT(cells->obs_names, ElementsAre("gen_0", "gen_1", "gen_2"));
  EXPECT_THAT(cells->obs.at("cell_type"), ElementsAre("B", "B", "NK"));
  EXPECT_EQ(cells->x.at(2, 0), 1.0f);
  EXPECT_TRUE(cells->Validate().ok());
}

TEST_F(GenailabClientTest, GenerateAsksForNoGeneNamesAndTakesThemFromOneGetModelPerVersion) {
  std::unique_ptr<GenailabClient> client = NewClient();
  const std::vector<CellGroup> groups = {{{{"cell_type", "B"}}, 2}};
  const int before = server_.service().call_count();
  absl::StatusOr<AnnData> first = client->Generate({"pbmc", 0}, groups, /*seed=*/1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(server_.service().last_generate().omit_column_names());
  EXPECT_THAT(first->var_names, ElementsAre("gene_a", "gene_b", "gene_c"));
  EXPECT_EQ(server_.service().call_count(), before + 2);  // Generate, then GetModel for the genes
  absl::StatusOr<AnnData> second = client->Generate({"pbmc", 0}, groups, /*seed=*/2);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(second->var_names, ElementsAre("gene_a", "gene_b", "gene_c"));
  EXPECT_EQ(server_.service().call_count(), before + 3);  // the genes are cached
}

TEST_F(GenailabClientTest, AVersionGoneBeforeItsGenesWereFetchedIsAskedAgainWithNames) {
  // The fake answers Generate for any model, but GetModel only knows pbmc and plain: for "ghost", the
  // client's GetModel for the genes is NOT_FOUND, as for a version retired in between.
  std::unique_ptr<GenailabClient> client = NewClient();
  const int before = server_.service().call_count();
  absl::StatusOr<AnnData> generated = client->Generate({"ghost", 0}, {{{{"cell_type", "B"}}, 1}});
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_THAT(generated->var_names, ElementsAre("gene_a", "gene_b", "gene_c"));
  EXPECT_FALSE(server_.service().last_generate().omit_column_names());
  EXPECT_EQ(server_.service().call_count(), before + 3);  // Generate, GetModel, Generate with names
}

TEST_F(GenailabClientTest, LargeGenerateRequestsStreamAndGiveTheSameAnnData) {
  // Five cells in three groups: above stream_above_cells = 2, Generate reads GenerateStream's messages
  // (two cells each from the fake) and assembles what the unary call gives.
  const std::vector<CellGroup> groups = {
      {{{"cell_type", "B"}}, 2}, {{{"cell_type", "NK"}}, 2}, {{{"cell_type", "T"}}, 1}};
  absl::StatusOr<AnnData> unary = NewClient()->Generate({"pbmc", 0}, groups, /*seed=*/9);
  ASSERT_TRUE(unary.ok()) << unary.status();
  EXPECT_EQ(server_.service().last_generate_stream().request().groups_size(), 0);  // no stream yet

  GenailabClient::Options options;
  options.stream_above_cells = 2;
  absl::StatusOr<std::unique_ptr<GenailabClient>> streaming = GenailabClient::Create(server_.NewChannel(), options);
  ASSERT_TRUE(streaming.ok()) << streaming.status();
  const int unary_calls = server_.service().call_count();
  absl::StatusOr<AnnData> streamed = (*streaming)->Generate({"pbmc", 0}, groups, /*seed=*/9);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_EQ(server_.service().call_count(), unary_calls + 1);
  const v1::GenerateStreamRequest request = server_.service().last_generate_stream();
  EXPECT_EQ(request.request().seed(), 9u);
  EXPECT_EQ(request.request().groups_size(), 3);
  EXPECT_EQ(request.chunk_cells(), 0);  // the server's default chunk size

  EXPECT_EQ(streamed->x.rows, 5);
  EXPECT_EQ(streamed->x.values, unary->x.values);
  EXPECT_EQ(streamed->var_names, unary->var_names);
  EXPECT_EQ(streamed->obs, unary->obs);
  EXPECT_THAT(streamed->obs.at("cell_type"), ElementsAre("B", "B", "NK", "NK", "T"));
  EXPECT_EQ(streamed->obs_names, unary->obs_names);
  EXPECT_TRUE(streamed->Validate().ok());

  // A failing stream returns the server's status.
  server_.service().set_error(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "busy"));
  absl::StatusOr<AnnData> refused = (*streaming)->Generate({"pbmc", 0}, groups);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("busy"));

  options.stream_above_cells = -1;
  EXPECT_EQ(GenailabClient::Create(server_.NewChannel(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(GenailabClientTest, GenerateRejectsNegativeCellCount) {
  absl::StatusOr<AnnData> cells = NewClient()->Generate({"pbmc", 0}, {{{}, -1}});
  EXPECT_EQ(cells.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cells.status().message(), HasSubstr("groups[0].n_cells"));
}

TEST_F(GenailabClientTest, PredictKeepsObsAndUsesModelGenes) {
  absl::StatusOr<AnnData> predicted =
      NewClient()->PredictPerturbation({"pbmc", 0}, DenseCells(), {"cell_type"}, "control",
                                       "stimulated", PerturbationMethod::kCounterfactual,
                                       GeneMatchingOptions{false, true});
  ASSERT_TRUE(predicted.ok()) << predicted.status();

  const v1::PredictPerturbationRequest request = server_.service().last_predict();
  EXPECT_EQ(request.source_condition(), "control");
  EXPECT_EQ(request.target_condition(), "stimulated");
  EXPECT_EQ(request.method(), v1::PERTURBATION_METHOD_COUNTERFACTUAL);
  EXPECT_TRUE(request.gene_matching().ignore_unknown());
  ASSERT_EQ(request.covariates_size(), 1);

  EXPECT_THAT(predicted->obs_names, ElementsAre("a", "b"));
  EXPECT_THAT(predicted->obs.at("cell_type"), ElementsAre("B", "NK"));
  EXPECT_THAT(predicted->var_names, ElementsAre("gene_a", "gene_b"));
  EXPECT_THAT(predicted->x.values, ElementsAre(2.0f, 3.0f, 4.0f, 5.0f));
}

TEST_F(GenailabClientTest, InterpolateLatentsSendsTheEndpointsAndParsesThePath) {
  absl::StatusOr<LatentPathResult> result =
      NewClient()->InterpolateLatents({"pbmc", 0}, {0.0f, 1.0f}, {2.0f, 3.0f}, 3, {{"cell_type", "B"}}, 500.0f);
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::InterpolateRequest request = server_.service().last_interpolate();
  EXPECT_EQ(request.steps(), 3);
  EXPECT_EQ(request.library_size(), 500.0f);
  EXPECT_EQ(request.covariates().at("cell_type"), "B");
  ASSERT_TRUE(request.has_latent_path());
  EXPECT_EQ(request.latent_path().endpoints().rows(), 2);
  EXPECT_THAT(request.latent_path().endpoints().dense().values(), ElementsAre(0.0f, 1.0f, 2.0f, 3.0f));
  EXPECT_THAT(result->positions, ElementsAre(0.0f, 0.5f, 1.0f));
  EXPECT_THAT(result->expression.values, ElementsAre(0.0f, 10.0f, 20.0f));
  EXPECT_THAT(result->gene_names, ElementsAre("g0"));
  EXPECT_EQ(result->latents.rows, 3);
}

TEST_F(GenailabClientTest, InterpolateCovariateAndTraverseLatentFillTheirRequests) {
  absl::StatusOr<LatentPathResult> blend =
      NewClient()->InterpolateCovariate({"pbmc", 2}, "cell_type", "B", "NK", 4, {}, {});
  ASSERT_TRUE(blend.ok()) << blend.status();
  const v1::InterpolateRequest interpolate = server_.service().last_interpolate();
  EXPECT_EQ(interpolate.model().version(), 2);
  EXPECT_EQ(interpolate.covariate_path().covariate(), "cell_type");
  EXPECT_EQ(interpolate.covariate_path().to_value(), "NK");
  EXPECT_FALSE(interpolate.covariate_path().has_latent());  // empty latent = the origin
  absl::StatusOr<LatentPathResult> traversal =
      NewClient()->TraverseLatent({"plain", 0}, 1, -2.0f, 2.0f, 5, {0.5f, 0.5f}, {});
  ASSERT_TRUE(traversal.ok()) << traversal.status();
  const v1::TraverseLatentRequest traverse = server_.service().last_traverse();
  EXPECT_EQ(traverse.axis(), 1);
  EXPECT_EQ(traverse.start(), -2.0f);
  EXPECT_EQ(traverse.end(), 2.0f);
  EXPECT_THAT(traverse.latent().dense().values(), ElementsAre(0.5f, 0.5f));
  EXPECT_THAT(traversal->positions, ElementsAre(0.0f, 1.0f, 2.0f, 3.0f, 4.0f));
}

TEST_F(GenailabClientTest, PathRequestsAreCheckedBeforeAnyRpc) {
  absl::StatusOr<LatentPathResult> steps = NewClient()->TraverseLatent({"plain", 0}, 0, 0.0f, 0.0f, 1, {}, {});
  EXPECT_EQ(steps.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(steps.status().message(), HasSubstr("steps: must be >= 2"));
  absl::StatusOr<LatentPathResult> sizes = NewClient()->InterpolateLatents({"plain", 0}, {0.0f}, {1.0f, 2.0f}, 3, {});
  EXPECT_THAT(sizes.status().message(), HasSubstr("latents of 1 and 2 values"));
  EXPECT_EQ(server_.service().call_count(), 0);
}

TEST(GenailabClientCreateTest, UnreachableServerIsUnavailable) {
  GenailabClient::Options options;
  options.target = "127.0.0.1:1";
  options.timeout = absl::Seconds(20);
  absl::StatusOr<std::unique_ptr<GenailabClient>> client = GenailabClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->ListModels().status().code(), absl::StatusCode::kUnavailable);
}

TEST(GenailabClientCreateTest, RejectsBadOptions) {
  GenailabClient::Options options;
  options.target = "";
  EXPECT_THAT(GenailabClient::Create(options).status().message(), HasSubstr("target"));
  options = GenailabClient::Options();
  options.max_message_bytes = 0;
  EXPECT_THAT(GenailabClient::Create(options).status().message(), HasSubstr("max_message_bytes"));
  options = GenailabClient::Options();
  options.timeout = absl::ZeroDuration();
  absl::Status status = GenailabClient::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("timeout"));
}

TEST(GenailabClientCreateTest, RejectsSecurityOptionsWithoutWhatTheyRequire) {
  GenailabClient::Options options;
  options.token_file = "/any/token";
  absl::Status status = GenailabClient::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("token_file: bearer tokens require tls_ca_file"));

  options = GenailabClient::Options();
  options.tls_cert_file = "/any/client.pem";
  status = GenailabClient::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("tls_key_file: required together with tls_cert_file"));

  options.tls_key_file = "/any/client.key";
  status = GenailabClient::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("requires tls_ca_file"));
}

TEST(GenailabClientCreateTest, MissingCaFileIsNotFound) {
  GenailabClient::Options options;
  options.tls_ca_file = "/nonexistent/ca.pem";
  absl::Status status = GenailabClient::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("tls_ca_file: no file '/nonexistent/ca.pem'"));
}

TEST(PerturbationMethodTest, ParsesCliNames) {
  EXPECT_EQ(*ParsePerturbationMethod("counterfactual"), PerturbationMethod::kCounterfactual);
  EXPECT_EQ(*ParsePerturbationMethod("latent_arithmetic"), PerturbationMethod::kLatentArithmetic);
  EXPECT_EQ(*ParsePerturbationMethod("default"), PerturbationMethod::kDefault);
  absl::Status bad = ParsePerturbationMethod("magic").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("'magic'"));
}

}  // namespace
}  // namespace genailab
