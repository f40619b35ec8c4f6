// GeneMatcher: maps the genes of a request matrix (its column names) onto a model's gene order.
//
// Built once per request from the request's and the model's gene names, then applied to the request
// matrix. An immutable value: thread-compatible.
#ifndef GENAILAB_SERVER_CORE_GENE_MATCHER_H_
#define GENAILAB_SERVER_CORE_GENE_MATCHER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/matrix.h"

namespace genailab {

struct GeneMatchingOptions {
  // Model genes absent from the request become zero columns instead of an error.
  bool zero_fill_missing = false;
  // Request genes unknown to the model are dropped instead of an error.
  bool ignore_unknown = false;
};

class GeneMatcher {
 public:
  // INVALID_ARGUMENT naming `<field>.column_names` when the request names no genes ("... is
  // required"), names a gene twice or an empty gene, lacks model genes (unless zero_fill_missing) or
  // holds genes the model does not know (unless ignore_unknown); missing/unknown messages list the
  // first few genes.
  static absl::StatusOr<GeneMatcher> Create(const std::vector<std::string>& request_genes,
                                            const std::vector<std::string>& model_genes,
                                            const GeneMatchingOptions& options,
                                            const std::string& field = "cells");

  // request (cells x request genes) -> cells x model genes. INVALID_ARGUMENT if request.cols is not the
  // number of request genes.
  absl::StatusOr<DenseMatrix> Apply(const DenseMatrix& request) const;

  // True when the request already is in the model's order (Apply copies nothing but the matrix).
  bool is_identity() const { return identity_; }
  // Model genes that Apply fills with zeros.
  int64_t missing_count() const { return missing_count_; }
  // Request genes that Apply drops.
  int64_t unknown_count() const { return unknown_count_; }

 private:
  GeneMatcher() = default;

  std::string field_;
  int64_t request_cols_ = 0;
  // source_[j] = request column of model gene j, or -1 for a zero-filled gene.
  std::vector<int64_t> source_;
  bool identity_ = false;
  int64_t missing_count_ = 0;
  int64_t unknown_count_ = 0;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_GENE_MATCHER_H_
