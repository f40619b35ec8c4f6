#include "data/csv_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string WriteText(const std::string& name, const std::string& text) {
  const std::string path = TempPath(name);
  std::ofstream(path) << text;
  return path;
}

TEST(CsvIoTest, ReadsCsvWithHeaderAndCellNames) {
  const std::string path = WriteText("plain.csv", "cell,g1,g2\nc1,1,2.5\r\nc2,0,-3e2\n\n");
  absl::StatusOr<AnnData> data = ReadCsv(path);
  ASSERT_THAT(data, IsOk());
  EXPECT_THAT(data->obs_names, ElementsAre("c1", "c2"));
  EXPECT_THAT(data->var_names, ElementsAre("g1", "g2"));
  EXPECT_THAT(data->x.values, ElementsAre(1, 2.5f, 0, -300));
  EXPECT_TRUE(data->obs.empty());
}

TEST(CsvIoTest, TsvExtensionSelectsTab) {
  const std::string path = WriteText("plain.tsv", "\tg1\tg2\nc1\t1\t2\n");
  absl::StatusOr<AnnData> data = ReadExpressionFile(path);
  ASSERT_THAT(data, IsOk());
  EXPECT_THAT(data->var_names, ElementsAre("g1", "g2"));
  EXPECT_THAT(data->x.values, ElementsAre(1, 2));
}

TEST(CsvIoTest, QuotedFieldsMayHoldDelimiters) {
  const std::string path = WriteText("quoted.csv", "cell,\"gene, one\",g2\n\"c \"\"1\"\"\",1,2\n");
  absl::StatusOr<AnnData> data = ReadCsv(path);
  ASSERT_THAT(data, IsOk());
  EXPECT_THAT(data->var_names, ElementsAre("gene, one", "g2"));
  EXPECT_THAT(data->obs_names, ElementsAre("c \"1\""));
}

TEST(CsvIoTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadCsv(TempPath("missing.csv")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.csv")));
}

TEST(CsvIoTest, RaggedRowNamesLine) {
  const std::string path = WriteText("ragged.csv", "cell,g1,g2\nc1,1,2\nc2,1\n");
  EXPECT_THAT(ReadCsv(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 3 has 2 fields, expected 3")));
}

TEST(CsvIoTest, UnparsableNumberNamesLineAndColumn) {
  const std::string path = WriteText("bad_number.csv", "cell,g1,g2\nc1,1,2\nc2,1,abc\n");
  EXPECT_THAT(ReadCsv(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("line 3, column 'g2': cannot parse 'abc'")));
}

AnnData Small() {
  AnnData data;
  data.x = DenseMatrix(2, 3);
  data.x.values = {0.1f, 2, 3, 4, 5.5f, 1234567.0f};
  data.obs_names = {"c1", "c2"};
  data.var_names = {"g1", "g2", "g3"};
  data.obs["cell_type"] = {"T cell", "B, naive"};
  data.obs_numeric["n_counts"] = {1, 2};
  return data;
}

TEST(CsvIoTest, WriteThenReadRoundTripsStringObsColumns) {
  for (const char* name : {"round_trip.csv", "round_trip.tsv"}) {
    const std::string path = TempPath(name);
    ASSERT_THAT(WriteExpressionFile(path, Small()), IsOk());
    absl::StatusOr<AnnData> read = ReadExpressionFile(path);
    ASSERT_THAT(read, IsOk()) << name;
    EXPECT_EQ(read->x.values, Small().x.values) << name;
    EXPECT_EQ(read->obs_names, Small().obs_names);
    EXPECT_EQ(read->var_names, Small().var_names);
    EXPECT_EQ(read->obs, Small().obs);
    EXPECT_TRUE(read->obs_numeric.empty());
  }
}

TEST(CsvIoTest, WriteCsvHeaderLayout) {
  const std::string path = TempPath("layout.csv");
  ASSERT_THAT(WriteCsv(path, Small()), IsOk());
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, ",cell_type,g1,g2,g3");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "c1,T cell,0.100000001,2,3");
}

TEST(CsvIoTest, ExpressionFileDispatchesByExtension) {
  const std::string h5ad = TempPath("dispatch.h5ad");
  ASSERT_THAT(WriteExpressionFile(h5ad, Small()), IsOk());
  absl::StatusOr<AnnData> read = ReadExpressionFile(h5ad);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->obs_numeric.at("n_counts"), Small().obs_numeric.at("n_counts"));
  EXPECT_THAT(ReadExpressionFile(h5ad, "layers/missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("layers/missing")));

  EXPECT_THAT(WriteExpressionFile(TempPath("x.parquet"), Small()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown extension")));
  EXPECT_THAT(ReadExpressionFile(TempPath("x.loom")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown extension")));
  const std::string csv = TempPath("dispatch.csv");
  ASSERT_THAT(WriteExpressionFile(csv, Small()), IsOk());
  EXPECT_THAT(ReadExpressionFile(csv, "raw/X"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layer: 'raw/X'")));
}

}  // namespace
}  // namespace genailab
