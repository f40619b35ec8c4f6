#include "client/cli.h"

#include <cstdlib>
#include <sstream>
#include <string>

#include "client/fake_generative_service.h"
#include "data/csv_io.h"
#include "data/h5ad_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

AnnData ControlCells() {
  AnnData cells;
  cells.x = DenseMatrix(3, 2);
  cells.x.values = {1.0f, 0.0f, 2.0f, 3.0f, 0.0f, 4.0f};
  cells.obs_names = {"c0", "c1", "c2"};
  cells.var_names = {"gene_a", "gene_b"};
  cells.obs["cell_type"] = {"B", "NK", "B"};
  cells.obs["condition"] = {"control", "stimulated", "control"};
  return cells;
}

TEST(ParseCellGroupsTest, SplitsGroupsAndPairs) {
  absl::StatusOr<std::vector<CellGroup>> groups =
      ParseCellGroups("cell_type=B, condition=stimulated;cell_type=NK", 10);
  ASSERT_TRUE(groups.ok()) << groups.status();
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[0].covariates.at("cell_type"), "B");
  EXPECT_EQ((*groups)[0].covariates.at("condition"), "stimulated");
  EXPECT_EQ((*groups)[1].covariates.size(), 1u);
  EXPECT_EQ((*groups)[1].n_cells, 10);
}

TEST(ParseCellGroupsTest, EmptySpecIsOneUnconditionalGroup) {
  absl::StatusOr<std::vector<CellGroup>> groups = ParseCellGroups("", 5);
  ASSERT_TRUE(groups.ok()) << groups.status();
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_TRUE((*groups)[0].covariates.empty());
}

TEST(ParseCellGroupsTest, RejectsMalformedPairs) {
  EXPECT_THAT(ParseCellGroups("cell_type", 1).status().message(), HasSubstr("not name=value"));
  EXPECT_THAT(ParseCellGroups("a=1,a=2", 1).status().message(), HasSubstr("'a' is given twice"));
  absl::Status empty_group = ParseCellGroups("a=1;", 1).status();
  EXPECT_EQ(empty_group.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty_group.message(), HasSubstr("group 2 is empty"));
}

TEST(FilterCellsTest, KeepsMatchingCells) {
  absl::StatusOr<AnnData> kept = FilterCells(ControlCells(), "condition=control");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_THAT(kept->obs_names, ElementsAre("c0", "c2"));
  kept = FilterCells(ControlCells(), "cell_type=B|NK,condition=stimulated");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_THAT(kept->obs_names, ElementsAre("c1"));
}

TEST(FilterCellsTest, ReportsUnknownColumnAndEmptySelection) {
  EXPECT_EQ(FilterCells(ControlCells(), "donor=1").status().code(), absl::StatusCode::kNotFound);
  absl::Status none = FilterCells(ControlCells(), "cell_type=T").status();
  EXPECT_EQ(none.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(none.message(), HasSubstr("keeps none of the 3 cells"));
  EXPECT_THAT(FilterCells(ControlCells(), "cell_type").status().message(),
              HasSubstr("not obs_key=value"));
}

TEST(ValidateCliOptionsTest, NamesTheMissingFlag) {
  CliOptions options;
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("no command"));
  options.command = "fly";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("unknown command 'fly'"));
  options.command = "generate";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--model is required"));
  options.model = "pbmc";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--out is required"));
  options.out = "cells.parquet";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("must end in .h5ad"));
  options.out = "cells.h5ad";
  EXPECT_TRUE(ValidateCliOptions(options).ok());
  options.command = "predict";
  options.in = "in.h5ad";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--source is required"));
  options.source = "control";
  options.target = "stimulated";
  options.method = "magic";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--method"));
}

TEST(ValidateCliOptionsTest, PathCommandsNeedOnePathAndValidFormats) {
  CliOptions options;
  options.command = "interpolate";
  options.model = "pbmc";
  options.out = "path.csv";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("either --cells (with --in) or --blend"));
  options.blend = "cell_type=B";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--blend: 'cell_type=B' is not covariate=FROM:TO"));
  options.blend = "cell_type=B:NK";
  EXPECT_TRUE(ValidateCliOptions(options).ok());
  options.latent = "0.5,x";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--latent: 'x' is not a number"));
  options.blend.clear();
  options.latent.clear();
  options.cells = "c0,c1,c2";
  options.in = "in.h5ad";
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--cells: must name two cells"));
  options.command = "traverse";
  options.steps = 1;
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--steps: must be >= 2"));
}

class RunCliTest : public ::testing::Test {
 protected:
  CliOptions Options(const std::string& command) {
    CliOptions options;
    options.command = command;
    options.server = server_.address();
    options.model = "pbmc";
    return options;
  }

  FakeServer server_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(RunCliTest, TokenWithoutTlsIsRefusedBeforeAnyRpc) {
  CliOptions options = Options("list");
  options.token_file = "/any/token";
  EXPECT_EQ(RunCli(options, out_, err_), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("token_file: bearer tokens require tls_ca_file"));
}

TEST_F(RunCliTest, ListPrintsTable) {
  ASSERT_EQ(RunCli(Options("list"), out_, err_), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("NAME"));
  EXPECT_THAT(out_.str(), HasSubstr("negative_binomial"));
  EXPECT_THAT(out_.str(), HasSubstr("plain"));
}

TEST_F(RunCliTest, InfoPrintsMetricsAndCovariates) {
  ASSERT_EQ(RunCli(Options("info"), out_, err_), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("val_elbo: -123.5"));
  EXPECT_THAT(out_.str(), HasSubstr("cell_type (2): B, NK"));
  EXPECT_THAT(out_.str(), HasSubstr("conditions:       control, stimulated"));
}

TEST_F(RunCliTest, ServerErrorPrintsCodeAndExitsOne) {
  CliOptions options = Options("info");
  options.model = "nope";
  EXPECT_EQ(RunCli(options, out_, err_), kExitError);
  EXPECT_EQ(err_.str(), "genailab: NOT_FOUND: model 'nope' not found\n");
}

TEST_F(RunCliTest, BadUsageExitsTwoWithUsage) {
  CliOptions options = Options("generate");
  EXPECT_EQ(RunCli(options, out_, err_), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("genailab: INVALID_ARGUMENT: generate: --out is required"));
  EXPECT_THAT(err_.str(), HasSubstr("usage: genailab <command>"));
  EXPECT_EQ(server_.service().call_count(), 0);
}

TEST_F(RunCliTest, GenerateWritesCsv) {
  CliOptions options = Options("generate");
  options.covariates = "cell_type=B;cell_type=NK";
  options.n = 2;
  options.seed = 9;
  options.out = TempPath("generated.csv");
  ASSERT_EQ(RunCli(options, out_, err_), kExitOk) << err_.str();
  EXPECT_EQ(server_.service().last_generate().seed(), 9u);
  absl::StatusOr<AnnData> written = ReadCsv(options.out);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->n_obs(), 4);
  EXPECT_THAT(written->obs_names, ElementsAre("gen_0", "gen_1", "gen_2", "gen_3"));
}

TEST_F(RunCliTest, EncodeFiltersCellsAndWritesEmbeddingH5ad) {
  const std::string in = TempPath("control.h5ad");
  ASSERT_TRUE(WriteH5ad(in, ControlCells()).ok());
  CliOptions options = Options("encode");
  options.in = in;
  options.filter = "condition=control";
  options.covariate_keys = {"cell_type"};
  options.out = TempPath("embedding.h5ad");
  ASSERT_EQ(RunCli(options, out_, err_), kExitOk) << err_.str();
  EXPECT_EQ(server_.service().last_encode().cells().rows(), 2);

  absl::StatusOr<AnnData> written = ReadH5ad(options.out);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(written->obs_names, ElementsAre("c0", "c2"));
  EXPECT_THAT(written->obs.at("cell_type"), ElementsAre("B", "B"));
  ASSERT_EQ(written->obsm.count("X_genailab"), 1u);
  EXPECT_THAT(written->obsm.at("X_genailab").values, ElementsAre(1.0f, 0.0f, 0.0f, 4.0f));
  EXPECT_EQ(written->obsm.count("X_genailab_var"), 1u);
}

TEST_F(RunCliTest, EncodeWritesLatentCsv) {
  const std::string in = TempPath("control.csv");
  ASSERT_TRUE(WriteCsv(in, ControlCells()).ok());
  CliOptions options = Options("encode");
  options.in = in;
  options.out = TempPath("embedding.csv");
  ASSERT_EQ(RunCli(options, out_, err_), kExitOk) << err_.str();
  absl::StatusOr<AnnData> written = ReadCsv(options.out);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(written->var_names, ElementsAre("z0", "z1"));
  EXPECT_THAT(written->obs_names, ElementsAre("c0", "c1", "c2"));
}

TEST_F(RunCliTest, InterpolateEncodesTheTwoCellsAndWritesThePath) {
  const std::string in = TempPath("interpolate_in.h5ad");
  ASSERT_TRUE(WriteH5ad(in, ControlCells()).ok());
  CliOptions options = Options("interpolate");
  options.in = in;
  options.cells = "c2,c0";
  options.covariate_keys = {"cell_type"};
  options.covariates = "cell_type=NK";
  options.steps = 3;
  options.out = TempPath("path.csv");
  ASSERT_EQ(RunCli(options, out_, err_), kExitOk) << err_.str();
  EXPECT_EQ(server_.service().last_encode().cells().rows(), 2);
  const v1::InterpolateRequest request = server_.service().last_interpolate();
  EXPECT_EQ(request.covariates().at("cell_type"), "NK");
  // The fake encodes a cell as its own expression: the endpoints are cells c2 and c0, in that order.
  const std::vector<float> c2_then_c0(request.latent_path().endpoints().dense().values().begin(),
                                      request.latent_path().endpoints().dense().values().end());
  EXPECT_THAT(c2_then_c0, ElementsAre(0.0f, 4.0f, 1.0f, 0.0f));
  absl::StatusOr<AnnData> written = ReadCsv(options.out);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(written->obs_names, ElementsAre("point_0", "point_1", "point_2"));
  EXPECT_THAT(written->x.values, ElementsAre(0.0f, 10.0f, 20.0f));
}

TEST_F(RunCliTest, TraverseWritesPositionsAndLatents) {
  CliOptions options = Options("traverse");
  options.axis = 1;
  options.range = "-1:1";
  options.steps = 2;
  options.latent = "0.5,0.25";
  options.out = TempPath("traverse.h5ad");
  ASSERT_EQ(RunCli(options, out_, err_), kExitOk) << err_.str();
  const v1::TraverseLatentRequest request = server_.service().last_traverse();
  EXPECT_EQ(request.axis(), 1);
  EXPECT_EQ(request.start(), -1.0f);
  EXPECT_EQ(request.end(), 1.0f);
  absl::StatusOr<AnnData> written = ReadH5ad(options.out);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(written->obs_numeric.at("position"), ElementsAre(0.0, 1.0));
  EXPECT_EQ(written->obsm.at("X_latent").rows, 2);
}

TEST_F(RunCliTest, PredictWritesPredictionWithObs) {
  const std::string in = TempPath("predict_in.h5ad");
  ASSERT_TRUE(WriteH5ad(in, ControlCells()).ok());
  CliOptions options = Options("predict");
  options.in = in;
  options.covariate_keys = {"cell_type"};
  options.source = "control";
  options.target = "stimulated";
  options.method = "latent_arithmetic";
  options.out = TempPath("pred.h5ad");
  ASSERT_EQ(RunCli(options, out_, err_), kExitOk) << err_.str();
  EXPECT_EQ(server_.service().last_predict().method(), v1::PERTURBATION_METHOD_LATENT_ARITHMETIC);
  absl::StatusOr<AnnData> written = ReadH5ad(options.out);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(written->obs_names, ElementsAre("c0", "c1", "c2"));
  EXPECT_EQ(written->x.at(0, 0), 2.0f);
}

TEST_F(RunCliTest, GenerateAndPredictSendTheSamplerOptions) {
  CliOptions options = Options("generate");
  options.covariates = "cell_type=B";
  options.n = 3;
  options.seed = 21;
  options.sampler.sampler = "ddim";
  options.sampler.steps = 25;
  options.sampler.eta = 0.25f;
  options.sampler.guidance_scale = 2.5f;
  options.out = TempPath("sampled.csv");
  ASSERT_EQ(RunCli(options, out_, err_), kExitOk) << err_.str();
  const v1::GenerateRequest generate = server_.service().last_generate();
  EXPECT_EQ(generate.seed(), 21u);
  EXPECT_EQ(generate.sampler().sampler(), "ddim");
  EXPECT_EQ(generate.sampler().steps(), 25);
  EXPECT_FLOAT_EQ(generate.sampler().eta(), 0.25f);
  EXPECT_FLOAT_EQ(generate.sampler().guidance_scale(), 2.5f);

  const std::string in = TempPath("sampler_predict_in.h5ad");
  ASSERT_TRUE(WriteH5ad(in, ControlCells()).ok());
  CliOptions predict = Options("predict");
  predict.in = in;
  predict.covariate_keys = {"cell_type"};
  predict.source = "control";
  predict.target = "stimulated";
  predict.seed = 5;
  predict.sampler.sampler = "heun";
  predict.sampler.steps = 8;
  predict.sampler.guidance_scale = 1.5f;
  predict.out = TempPath("sampler_pred.h5ad");
  ASSERT_EQ(RunCli(predict, out_, err_), kExitOk) << err_.str();
  const v1::PredictPerturbationRequest request = server_.service().last_predict();
  EXPECT_EQ(request.seed(), 5u);
  EXPECT_EQ(request.sampler().sampler(), "heun");
  EXPECT_EQ(request.sampler().steps(), 8);
  EXPECT_FLOAT_EQ(request.sampler().eta(), 0.0f);
  EXPECT_FLOAT_EQ(request.sampler().guidance_scale(), 1.5f);
}

TEST_F(RunCliTest, BadSamplerFlagsAreUsageErrorsBeforeAnyRpc) {
  CliOptions options = Options("generate");
  options.out = TempPath("never.csv");
  options.sampler.eta = 1.5f;
  EXPECT_EQ(RunCli(options, out_, err_), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--eta"));
  options.sampler.eta = 0.0f;
  options.sampler.steps = -1;
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--steps"));
  options.sampler.steps = 0;
  options.command = "predict";
  options.in = "in.h5ad";
  options.source = "a";
  options.target = "b";
  options.sampler.guidance_scale = -2.0f;
  EXPECT_THAT(ValidateCliOptions(options).message(), HasSubstr("--guidance_scale"));
  EXPECT_EQ(server_.service().call_count(), 0);
}

}  // namespace
}  // namespace genailab
