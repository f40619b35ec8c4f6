// AnnData: the in-memory subset of an AnnData object that genailab reads and writes (see h5ad_io.h).
// A plain value type (thread-compatible).
#ifndef GENAILAB_DATA_ANNDATA_H_
#define GENAILAB_DATA_ANNDATA_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"

namespace genailab {

struct AnnData {
  DenseMatrix x;                         // cells x genes (the layer that was read, densified)
  std::vector<std::string> obs_names;    // one per cell
  std::vector<std::string> var_names;    // one per gene
  // Categorical and string obs columns, as strings (categories resolved; NaN codes become "").
  std::map<std::string, std::vector<std::string>> obs;
  // Numeric obs columns.
  std::map<std::string, std::vector<double>> obs_numeric;
  // Extra cells x k matrices (e.g. "X_latent").
  std::map<std::string, DenseMatrix> obsm;
  // Extra genes x k matrices (e.g. "true_response").
  std::map<std::string, DenseMatrix> varm;
  // Free-form string lists stored in uns (e.g. the column labels of a varm matrix).
  std::map<std::string, std::vector<std::string>> uns_strings;

  int64_t n_obs() const { return x.rows; }
  int64_t n_vars() const { return x.cols; }

  // INVALID_ARGUMENT naming the field whose length disagrees with x's shape.
  absl::Status Validate() const;
  // The cells in `indices`, with every per-cell field subset alike.
  AnnData SelectCells(const std::vector<int64_t>& indices) const;
  // NOT_FOUND naming `name` and listing the columns that exist.
  absl::StatusOr<const std::vector<std::string>*> ObsColumn(const std::string& name) const;
};

}  // namespace genailab

#endif  // GENAILAB_DATA_ANNDATA_H_
