#include "data/anndata.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

AnnData ThreeCells() {
  AnnData data;
  data.x = DenseMatrix(3, 2);
  for (int i = 0; i < 6; ++i) data.x.values[i] = static_cast<float>(i);
  data.obs_names = {"c0", "c1", "c2"};
  data.var_names = {"g0", "g1"};
  data.obs["cell_type"] = {"A", "B", "A"};
  data.obs_numeric["n_counts"] = {1, 5, 9};
  data.obsm["X_latent"] = DenseMatrix(3, 1);
  data.obsm["X_latent"].values = {10, 11, 12};
  data.varm["loadings"] = DenseMatrix(2, 4);
  data.uns_strings["labels"] = {"x"};
  return data;
}

TEST(AnnDataTest, ValidateAcceptsConsistentData) { EXPECT_THAT(ThreeCells().Validate(), IsOk()); }

TEST(AnnDataTest, ValidateAllowsUnnamedCellsAndGenes) {
  AnnData data = ThreeCells();
  data.obs_names.clear();
  data.var_names.clear();
  EXPECT_THAT(data.Validate(), IsOk());
}

TEST(AnnDataTest, ValidateNamesTheInconsistentField) {
  AnnData data = ThreeCells();
  data.obs_names.pop_back();
  EXPECT_THAT(data.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs_names")));
  data = ThreeCells();
  data.var_names.push_back("extra");
  EXPECT_THAT(data.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("var_names")));
  data = ThreeCells();
  data.obs["batch"] = {"b"};
  EXPECT_THAT(data.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs['batch']")));
  data = ThreeCells();
  data.obs_numeric["n_counts"].push_back(1);
  EXPECT_THAT(data.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs_numeric['n_counts']")));
  data = ThreeCells();
  data.obsm["X_latent"] = DenseMatrix(2, 1);
  EXPECT_THAT(data.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obsm['X_latent']")));
  data = ThreeCells();
  data.varm["loadings"] = DenseMatrix(3, 4);
  EXPECT_THAT(data.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("varm['loadings']")));
  data = ThreeCells();
  data.x.values.pop_back();
  EXPECT_THAT(data.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x: has 5 values")));
}

TEST(AnnDataTest, SelectCellsSubsetsEveryPerCellField) {
  const AnnData data = ThreeCells();
  const AnnData subset = data.SelectCells({2, 1});
  EXPECT_THAT(subset.x.values, ElementsAre(4, 5, 2, 3));
  EXPECT_THAT(subset.obs_names, ElementsAre("c2", "c1"));
  EXPECT_THAT(subset.var_names, ElementsAre("g0", "g1"));
  EXPECT_THAT(subset.obs.at("cell_type"), ElementsAre("A", "B"));
  EXPECT_THAT(subset.obs_numeric.at("n_counts"), ElementsAre(9, 5));
  EXPECT_THAT(subset.obsm.at("X_latent").values, ElementsAre(12, 11));
  EXPECT_EQ(subset.varm.at("loadings").rows, 2);
  EXPECT_THAT(subset.uns_strings.at("labels"), ElementsAre("x"));
  EXPECT_THAT(subset.Validate(), IsOk());
}

TEST(AnnDataTest, ObsColumnFindsOrListsAvailable) {
  const AnnData data = ThreeCells();
  absl::StatusOr<const std::vector<std::string>*> column = data.ObsColumn("cell_type");
  ASSERT_THAT(column, IsOk());
  EXPECT_THAT(**column, ElementsAre("A", "B", "A"));
  EXPECT_THAT(data.ObsColumn("condition"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("obs column 'condition' not found; available: [cell_type]")));
}

}  // namespace
}  // namespace genailab
