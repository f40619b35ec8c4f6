#include "data/synth_tool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "data/csv_io.h"
#include "data/h5ad_io.h"
#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

SynthToolOptions Options(const std::string& out) {
  SynthToolOptions options;
  options.out = out;
  options.synthetic.n_genes = 50;
  options.synthetic.n_cell_types = 2;
  options.synthetic.cells_per_group = 5;
  options.synthetic.seed = 3;
  return options;
}

TEST(SynthToolTest, TruthPathReplacesExtension) {
  EXPECT_EQ(TruthPathFor("/a/b/synth.h5ad"), "/a/b/synth.truth.csv");
  EXPECT_EQ(TruthPathFor("/a.b/synth"), "/a.b/synth.truth.csv");
  EXPECT_EQ(TruthPathFor("out.csv"), "out.truth.csv");
}

TEST(SynthToolTest, WritesH5adAndTruthCsv) {
  const std::string out = TempPath("synth.h5ad");
  absl::StatusOr<std::string> summary = RunSynthTool(Options(out));
  ASSERT_THAT(summary, IsOk());
  EXPECT_THAT(*summary, HasSubstr("wrote 40 cells x 50 genes"));
  EXPECT_THAT(*summary, HasSubstr("synth.truth.csv"));

  absl::StatusOr<AnnData> data = ReadH5ad(out);
  ASSERT_THAT(data, IsOk());
  EXPECT_EQ(data->n_obs(), 40);
  EXPECT_EQ(data->obs.count("condition"), 1u);
  absl::StatusOr<AnnData> truth = ReadCsv(TempPath("synth.truth.csv"));
  ASSERT_THAT(truth, IsOk());
  EXPECT_EQ(truth->obs_names, data->var_names);
  EXPECT_EQ(truth->var_names, data->uns_strings.at("true_log_fold_change_cell_types"));
  EXPECT_EQ(truth->x.values, data->varm.at("true_log_fold_change").values);
}

TEST(SynthToolTest, WritesCsv) {
  const std::string out = TempPath("synth_csv.csv");
  ASSERT_THAT(RunSynthTool(Options(out)), IsOk());
  absl::StatusOr<AnnData> data = ReadCsv(out);
  ASSERT_THAT(data, IsOk());
  EXPECT_EQ(data->n_obs(), 40);
  EXPECT_EQ(data->n_vars(), 50);
  EXPECT_EQ(data->obs.at("cell_type")[0], "type_0");
}

TEST(SynthToolTest, RejectsBadArguments) {
  EXPECT_THAT(RunSynthTool(Options("")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out: required")));
  EXPECT_THAT(RunSynthTool(Options(TempPath("synth.xlsx"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown extension")));
  SynthToolOptions options = Options(TempPath("bad.h5ad"));
  options.synthetic.n_batches = 0;
  EXPECT_THAT(RunSynthTool(options), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("n_batches")));
}

}  // namespace
}  // namespace genailab
