// Checks that Python's anndata.read_h5ad loads what WriteH5ad writes, with the right shape, obs columns
// (categorical and numeric), values, obsm, varm and uns. Skips when /usr/bin/python3 or its anndata
// package is unavailable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "data/h5ad_io.h"
#include "data/status_matchers.h"

namespace genailab {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Runs a shell command with HOME pointed at the test's temp folder (Python packages may write caches
// there), capturing its output into *output. Returns the exit status.
int RunCommand(const std::string& command, std::string* output) {
  const std::string log = absl::StrCat(TempDir(), "/command_output.txt");
  const int status = std::system(
      absl::StrCat("HOME='", TempDir(), "' MPLCONFIGDIR='", TempDir(), "' ", command, " > '", log, "' 2>&1")
          .c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  *output = text.str();
  return status;
}

constexpr char kCheckScript[] = R"(
import sys
import numpy as np
import anndata

a = anndata.read_h5ad(sys.argv[1])
assert a.shape == (3, 2), a.shape
assert list(a.obs_names) == ["cell_a", "cell_b", "cell_c"], list(a.obs_names)
assert list(a.var_names) == ["CD3E", "MS4A1"], list(a.var_names)
assert a.X.dtype == np.float32, a.X.dtype
np.testing.assert_allclose(a.X, [[1.5, 0], [-2, 3], [4.25, 1e-3]], rtol=1e-6)
assert sorted(a.obs.columns) == ["cell_type", "donor", "n_counts"], list(a.obs.columns)
assert str(a.obs["cell_type"].dtype) == "category", a.obs["cell_type"].dtype
assert list(a.obs["cell_type"]) == ["T", "B", "T"], list(a.obs["cell_type"])
assert a.obs["donor"].isna().tolist() == [False, True, False], a.obs["donor"].tolist()
assert a.obs["donor"].iloc[2] == "d2"
np.testing.assert_allclose(a.obs["n_counts"].to_numpy(), [10.5, 0, 1e6])
np.testing.assert_allclose(a.obsm["X_latent"], [[1, 2], [3, 4], [5, 6]])
assert a.varm["true_log_fold_change"].shape == (2, 3)
np.testing.assert_allclose(a.varm["true_log_fold_change"][1], [2, 0, 0.25])
assert list(a.uns["true_log_fold_change_cell_types"]) == ["type_0", "type_1", "type_2"]
print("anndata", anndata.__version__, "read the file")
)";

TEST(H5adAnndataCompatTest, AnndataReadsWrittenFile) {
  std::string output;
  if (RunCommand(absl::StrCat(kPython, " -c 'import anndata'"), &output) != 0) {
    GTEST_SKIP() << kPython << " cannot import anndata: " << output;
  }
  AnnData data;
  data.x = DenseMatrix(3, 2);
  data.x.values = {1.5f, 0, -2, 3, 4.25f, 1e-3f};
  data.obs_names = {"cell_a", "cell_b", "cell_c"};
  data.var_names = {"CD3E", "MS4A1"};
  data.obs["cell_type"] = {"T", "B", "T"};
  data.obs["donor"] = {"d1", "", "d2"};
  data.obs_numeric["n_counts"] = {10.5, 0, 1e6};
  data.obsm["X_latent"] = DenseMatrix(3, 2);
  data.obsm["X_latent"].values = {1, 2, 3, 4, 5, 6};
  data.varm["true_log_fold_change"] = DenseMatrix(2, 3);
  data.varm["true_log_fold_change"].values = {0.5f, -1, 0, 2, 0, 0.25f};
  data.uns_strings["true_log_fold_change_cell_types"] = {"type_0", "type_1", "type_2"};
  const std::string h5ad = absl::StrCat(TempDir(), "/compat.h5ad");
  ASSERT_THAT(WriteH5ad(h5ad, data), IsOk());

  const std::string script = absl::StrCat(TempDir(), "/check_compat.py");
  std::ofstream(script) << kCheckScript;
  const int status = RunCommand(absl::StrCat(kPython, " '", script, "' '", h5ad, "'"), &output);
  EXPECT_EQ(status, 0) << output;
  EXPECT_THAT(output, ::testing::HasSubstr("read the file"));
}

}  // namespace
}  // namespace genailab
