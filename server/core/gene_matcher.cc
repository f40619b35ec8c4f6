#include "server/core/gene_matcher.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace genailab {
namespace {

constexpr size_t kGenesNamedInErrors = 5;

// "A, B, C and 7 more"
std::string FirstFew(const std::vector<std::string>& genes) {
  const size_t shown = std::min(genes.size(), kGenesNamedInErrors);
  std::string text = absl::StrJoin(genes.begin(), genes.begin() + shown, ", ");
  if (genes.size() > shown) absl::StrAppend(&text, " and ", genes.size() - shown, " more");
  return text;
}

}  // namespace

absl::StatusOr<GeneMatcher> GeneMatcher::Create(const std::vector<std::string>& request_genes,
                                                const std::vector<std::string>& model_genes,
                                                const GeneMatchingOptions& options,
                                                const std::string& field) {
  const std::string names_field = absl::StrCat(field, ".column_names");
  if (request_genes.empty()) return absl::InvalidArgumentError(absl::StrCat(names_field, " is required"));

  absl::flat_hash_map<std::string, int64_t> request_index;
  request_index.reserve(request_genes.size());
  for (size_t i = 0; i < request_genes.size(); ++i) {
    if (request_genes[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(names_field, "[", i, "] is empty"));
    }
    if (!request_index.emplace(request_genes[i], static_cast<int64_t>(i)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(names_field, ": duplicate gene '", request_genes[i], "' at column ", i));
    }
  }

  GeneMatcher matcher;
  matcher.field_ = field;
  matcher.request_cols_ = static_cast<int64_t>(request_genes.size());
  matcher.source_.reserve(model_genes.size());
  std::vector<std::string> missing;
  for (const std::string& gene : model_genes) {
    const auto it = request_index.find(gene);
    if (it == request_index.end()) {
      missing.push_back(gene);
      matcher.source_.push_back(-1);
    } else {
      matcher.source_.push_back(it->second);
    }
  }
  const absl::flat_hash_set<std::string> model_set(model_genes.begin(), model_genes.end());
  std::vector<std::string> unknown;
  for (const std::string& gene : request_genes) {
    if (!model_set.contains(gene)) unknown.push_back(gene);
  }
  // Both problems are reported together: a renamed gene shows up as one unknown and one missing gene,
  // and the pair is what tells the caller what happened.
  std::vector<std::string> problems;
  if (!unknown.empty() && !options.ignore_unknown) {
    problems.push_back(absl::StrCat(unknown.size(), " request genes are unknown to the model: ",
                                    FirstFew(unknown), " (set gene_matching.ignore_unknown to drop them)"));
  }
  if (!missing.empty() && !options.zero_fill_missing) {
    problems.push_back(absl::StrCat(missing.size(), " of the model's ", model_genes.size(),
                                    " genes are missing from the request: ", FirstFew(missing),
                                    " (set gene_matching.zero_fill_missing to fill them with zeros)"));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(names_field, ": ", absl::StrJoin(problems, "; ")));
  }
  matcher.missing_count_ = static_cast<int64_t>(missing.size());
  matcher.unknown_count_ = static_cast<int64_t>(unknown.size());
  matcher.identity_ = request_genes.size() == model_genes.size() && missing.empty();
  for (size_t j = 0; matcher.identity_ && j < matcher.source_.size(); ++j) {
    matcher.identity_ = matcher.source_[j] == static_cast<int64_t>(j);
  }
  return matcher;
}

absl::StatusOr<DenseMatrix> GeneMatcher::Apply(const DenseMatrix& request) const {
  if (request.cols != request_cols_) {
    return absl::InvalidArgumentError(absl::StrCat(field_, ": ", request.cols, " columns but ",
                                                   request_cols_, " column_names"));
  }
  if (identity_) return request;
  DenseMatrix out(request.rows, static_cast<int64_t>(source_.size()));
  for (int64_t r = 0; r < request.rows; ++r) {
    const float* in = request.row(r);
    float* row = out.row(r);
    for (size_t j = 0; j < source_.size(); ++j) {
      if (source_[j] >= 0) row[j] = in[source_[j]];
    }
  }
  return out;
}

}  // namespace genailab
