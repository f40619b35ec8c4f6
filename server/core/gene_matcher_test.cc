#include "server/core/gene_matcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

DenseMatrix Row(std::vector<float> values) {
  DenseMatrix m(1, static_cast<int64_t>(values.size()));
  m.values = std::move(values);
  return m;
}

const std::vector<std::string> kModelGenes = {"a", "b", "c"};

TEST(GeneMatcherTest, ReordersToModelOrder) {
  auto matcher = GeneMatcher::Create({"c", "a", "b"}, kModelGenes, {});
  ASSERT_THAT(matcher, IsOk());
  EXPECT_FALSE(matcher->is_identity());
  auto out = matcher->Apply(Row({3, 1, 2}));
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->cols, 3);
  EXPECT_THAT(out->values, ElementsAre(1, 2, 3));
}

TEST(GeneMatcherTest, IdentityKeepsMatrix) {
  auto matcher = GeneMatcher::Create(kModelGenes, kModelGenes, {});
  ASSERT_THAT(matcher, IsOk());
  EXPECT_TRUE(matcher->is_identity());
  auto out = matcher->Apply(Row({1, 2, 3}));
  ASSERT_THAT(out, IsOk());
  EXPECT_THAT(out->values, ElementsAre(1, 2, 3));
}

TEST(GeneMatcherTest, MissingGenesAreRejectedOrZeroFilled) {
  EXPECT_THAT(GeneMatcher::Create({"a"}, kModelGenes, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cells.column_names: 2 of the model's 3 genes are missing from the "
                                 "request: b, c")));
  GeneMatchingOptions options;
  options.zero_fill_missing = true;
  auto matcher = GeneMatcher::Create({"c", "a"}, kModelGenes, options);
  ASSERT_THAT(matcher, IsOk());
  EXPECT_EQ(matcher->missing_count(), 1);
  auto out = matcher->Apply(Row({3, 1}));
  ASSERT_THAT(out, IsOk());
  EXPECT_THAT(out->values, ElementsAre(1, 0, 3));
}

TEST(GeneMatcherTest, NamesOnlyTheFirstFewMissingGenes) {
  std::vector<std::string> model_genes;
  for (int i = 0; i < 20; ++i) model_genes.push_back("gene" + std::to_string(i));
  EXPECT_THAT(GeneMatcher::Create({"gene0"}, model_genes, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gene5 and 14 more")));
}

TEST(GeneMatcherTest, UnknownGenesAreRejectedOrDropped) {
  EXPECT_THAT(GeneMatcher::Create({"a", "b", "c", "x"}, kModelGenes, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown to the model: x")));
  GeneMatchingOptions options;
  options.ignore_unknown = true;
  auto matcher = GeneMatcher::Create({"x", "b", "c", "a"}, kModelGenes, options);
  ASSERT_THAT(matcher, IsOk());
  EXPECT_EQ(matcher->unknown_count(), 1);
  auto out = matcher->Apply(Row({9, 2, 3, 1}));
  ASSERT_THAT(out, IsOk());
  EXPECT_THAT(out->values, ElementsAre(1, 2, 3));
}

TEST(GeneMatcherTest, RejectsDuplicateEmptyAndAbsentNames) {
  EXPECT_THAT(GeneMatcher::Create({"a", "b", "a"}, kModelGenes, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate gene 'a' at column 2")));
  EXPECT_THAT(GeneMatcher::Create({"a", "", "b"}, kModelGenes, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells.column_names[1] is empty")));
  EXPECT_THAT(GeneMatcher::Create({}, kModelGenes, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells.column_names is required")));
}

TEST(GeneMatcherTest, ApplyChecksColumnCount) {
  auto matcher = GeneMatcher::Create(kModelGenes, kModelGenes, {});
  ASSERT_THAT(matcher, IsOk());
  EXPECT_THAT(matcher->Apply(Row({1, 2})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 columns but 3 column_names")));
}

}  // namespace
}  // namespace genailab
