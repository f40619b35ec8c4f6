#include "trainer/cell_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

AnnData ThreeCells() {
  AnnData data;
  data.x = DenseMatrix(3, 1);
  data.obs_names = {"c0", "c1", "c2"};
  data.var_names = {"g"};
  data.obs["cell_type"] = {"A", "B", "B"};
  data.obs["condition"] = {"stim", "stim", "ctrl"};
  return data;
}

TEST(CellFilterTest, AllClausesMustHold) {
  const CellFilter filter = CellFilter::Parse("cell_type=B, condition=stim").value();
  EXPECT_EQ(filter.ToString(), "cell_type=B,condition=stim");
  EXPECT_THAT(filter.Matching(ThreeCells()).value(), ElementsAre(1));
}

TEST(CellFilterTest, CellsOutsideAllFilters) {
  const std::vector<CellFilter> filters = {CellFilter::Parse("cell_type=A").value(),
                                           CellFilter::Parse("condition=ctrl").value()};
  EXPECT_THAT(CellsOutsideAll(ThreeCells(), filters).value(), ElementsAre(1));
  EXPECT_THAT(CellsOutsideAll(ThreeCells(), {}).value(), ElementsAre(0, 1, 2));
}

TEST(CellFilterTest, MalformedSpecsNameTheClause) {
  EXPECT_THAT(std::string(CellFilter::Parse("cell_type").status().message()),
              HasSubstr("'cell_type' must be key=value"));
  EXPECT_EQ(CellFilter::Parse("a=1,a=2").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CellFilter::Parse("=x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CellFilter::Parse("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CellFilterTest, UnknownColumnAndAbsentValue) {
  const auto missing = CellFilter::Parse("donor=1").value().Matching(ThreeCells());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("donor"));
  const auto typo = CellFilter::Parse("cell_type=b").value().Matching(ThreeCells());
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(typo.status().message()), HasSubstr("no cell has cell_type=b"));
}

}  // namespace
}  // namespace genailab
