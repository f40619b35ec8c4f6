// CellFilter: selects cells by their obs values, e.g. the holdout "cell_type=B,condition=stimulated"
// (a cell matches when every key=value pair holds). Immutable after Parse(); thread-safe.
#ifndef GENAILAB_TRAINER_CELL_FILTER_H_
#define GENAILAB_TRAINER_CELL_FILTER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "data/anndata.h"

namespace genailab {

class CellFilter {
 public:
  // "key=value[,key=value...]". INVALID_ARGUMENT naming the malformed clause (no '=', empty key or value,
  // a key given twice).
  static absl::StatusOr<CellFilter> Parse(const std::string& spec);

  // Indices of the cells that match. NOT_FOUND naming an obs column the data lacks; INVALID_ARGUMENT when
  // a value does not occur in its column at all (almost always a typo).
  absl::StatusOr<std::vector<int64_t>> Matching(const AnnData& data) const;

  const std::vector<std::pair<std::string, std::string>>& clauses() const { return clauses_; }
  std::string ToString() const;

 private:
  std::vector<std::pair<std::string, std::string>> clauses_;
};

// Indices of the cells matched by none of `filters`, ascending.
absl::StatusOr<std::vector<int64_t>> CellsOutsideAll(const AnnData& data,
                                                     const std::vector<CellFilter>& filters);

}  // namespace genailab

#endif  // GENAILAB_TRAINER_CELL_FILTER_H_
