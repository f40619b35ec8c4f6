#include "eval/eval_tool.h"

#include <cstdlib>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/h5ad_io.h"
#include "data/status_matchers.h"
#include "eval/test_matrices.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) { return std::string(std::getenv("TEST_TMPDIR")) + "/" + name; }

// 40 control and 40 stimulated cells of 5 genes; stimulation raises gene g1 by 3. Latent obsm
// "X_genailab": two well separated clusters by cell type.
AnnData Experiment() {
  AnnData data;
  const DenseMatrix control = GaussianSample(40, {1, 1, 1, 1, 1}, 0.2f, 1);
  const DenseMatrix stimulated = GaussianSample(40, {1, 4, 1, 1, 1}, 0.2f, 2);
  data.x = DenseMatrix(80, 5);
  std::copy(control.values.begin(), control.values.end(), data.x.values.begin());
  std::copy(stimulated.values.begin(), stimulated.values.end(), data.x.values.begin() + 200);
  data.var_names = {"g0", "g1", "g2", "g3", "g4"};
  const DenseMatrix noise = GaussianSample(80, {0, 0}, 0.3f, 3);
  DenseMatrix latent(80, 2);
  for (int64_t i = 0; i < 80; ++i) {
    data.obs_names.push_back("c" + std::to_string(i));
    data.obs["condition"].push_back(i < 40 ? "ctrl" : "stim");
    data.obs["cell_type"].push_back(i % 2 == 0 ? "B" : "T");
    latent.at(i, 0) = (i % 2 == 0 ? 0.0f : 8.0f) + noise.at(i, 0);
    latent.at(i, 1) = noise.at(i, 1);
  }
  data.obsm["X_genailab"] = latent;
  return data;
}

TEST(EvalToolTest, PerfectPredictionAndSeparatedLatentSpace) {
  const std::string path = TempPath("experiment.h5ad");
  ASSERT_THAT(WriteH5ad(path, Experiment()), IsOk());
  EvalToolOptions options;
  options.real = path;
  options.real_filter = "condition=stim";
  options.generated = path;  // the prediction is the truth itself
  options.generated_filter = "condition=stim";
  options.control_filter = "condition=ctrl";
  options.samples.top_k_genes = 2;
  options.latent = path;
  options.out = TempPath("report.json");
  absl::StatusOr<nlohmann::json> report = RunEvalTool(options);
  ASSERT_THAT(report, IsOk());
  const nlohmann::json& samples = (*report)["samples"];
  EXPECT_EQ(samples["genes"], 5);
  EXPECT_EQ(samples["cells"]["control"], 40);
  EXPECT_NEAR(samples["r2"]["mean_all_genes"].get<double>(), 1.0, 1e-9);
  EXPECT_NEAR(samples["r2"]["delta_top_genes"].get<double>(), 1.0, 1e-9);
  EXPECT_EQ(samples["r2"]["top_genes"][0], "g1");
  EXPECT_NEAR(samples["mmd"]["mmd_squared"].get<double>(), 0.0, 1e-9);
  EXPECT_NEAR(samples["energy_distance"].get<double>(), 0.0, 1e-9);
  EXPECT_DOUBLE_EQ((*report)["latent"]["knn_accuracy"].get<double>(), 1.0);
  EXPECT_FALSE((*report)["latent"].contains("mig"));
  std::ifstream written(options.out);
  EXPECT_EQ(nlohmann::json::parse(written), *report);
}

TEST(EvalToolTest, DisentanglementOfTheLatentSpaceAgainstKnownFactors) {
  AnnData data = Experiment();
  // z0 separates the cell types; make z1 the condition (0 / 1) plus noise: each factor has its own axis.
  for (int64_t i = 0; i < 80; ++i) data.obsm["X_genailab"].at(i, 1) += i < 40 ? 0.0f : 5.0f;
  const std::string path = TempPath("factors.h5ad");
  ASSERT_THAT(WriteH5ad(path, data), IsOk());
  EvalToolOptions options;
  options.latent = path;
  options.factor_keys = {"cell_type", "condition"};
  absl::StatusOr<nlohmann::json> report = RunEvalTool(options);
  ASSERT_THAT(report, IsOk());
  EXPECT_GT((*report)["latent"]["mig"].get<double>(), 0.9);
  EXPECT_GT((*report)["latent"]["dci"]["disentanglement"].get<double>(), 0.9);
  options.factor_keys = {"donor"};
  EXPECT_THAT(RunEvalTool(options), StatusIs(absl::StatusCode::kNotFound, HasSubstr("donor")));
}

TEST(EvalToolTest, NoChangePredictionIsRecognizedAsWrong) {
  const std::string path = TempPath("experiment.h5ad");
  ASSERT_THAT(WriteH5ad(path, Experiment()), IsOk());
  EvalToolOptions options;
  options.real = path;
  options.real_filter = "condition=stim";
  options.generated = path;
  options.generated_filter = "condition=ctrl";  // "no change": the controls as the prediction
  absl::StatusOr<nlohmann::json> report = RunEvalTool(options);
  ASSERT_THAT(report, IsOk());
  EXPECT_GT((*report)["samples"]["energy_distance"].get<double>(), 3.0);
  EXPECT_NEAR((*report)["samples"]["knn_auc"].get<double>(), 1.0, 1e-9);
}

TEST(EvalToolTest, ValidatesOptionsAndNamesFiles) {
  EvalToolOptions options;
  EXPECT_THAT(ValidateEvalToolOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nothing to evaluate")));
  options.real = "a.h5ad";
  EXPECT_THAT(ValidateEvalToolOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--real and --generated go together")));
  options.generated = "b.h5ad";
  options.checkpoint = "model/1";
  EXPECT_THAT(ValidateEvalToolOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--checkpoint and --bounds_data")));
  options.checkpoint.clear();
  options.real = TempPath("absent.h5ad");
  EXPECT_THAT(RunEvalTool(options), StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent.h5ad")));
  const std::string path = TempPath("experiment.h5ad");
  ASSERT_THAT(WriteH5ad(path, Experiment()), IsOk());
  options.real = options.generated = path;
  options.real_filter = "condition=other";
  EXPECT_THAT(RunEvalTool(options), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("other")));
}

}  // namespace
}  // namespace genailab
