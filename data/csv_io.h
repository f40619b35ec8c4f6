// CSV/TSV expression matrices: a header row of gene names (the first header cell names the index column)
// and one row per cell starting with its name. The delimiter is taken from the extension (.tsv/.txt = tab,
// otherwise comma) unless given.
#ifndef GENAILAB_DATA_CSV_IO_H_
#define GENAILAB_DATA_CSV_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "data/anndata.h"

namespace genailab {

// Fills x, obs_names and var_names; leading non-numeric columns (as WriteCsv writes obs columns) become
// string obs columns. NOT_FOUND for a missing file; INVALID_ARGUMENT naming the line for ragged rows or
// unparsable numbers.
absl::StatusOr<AnnData> ReadCsv(const std::string& path, char delimiter = '\0');

// Writes one row per cell: its name, then each string obs column, then the genes (header row alike).
// Numeric obs columns are not written (they would read back as genes).
absl::Status WriteCsv(const std::string& path, const AnnData& data, char delimiter = '\0');

// Reads .h5ad with ReadH5ad (layer from options) or .csv/.tsv/.txt with ReadCsv, by extension.
absl::StatusOr<AnnData> ReadExpressionFile(const std::string& path, const std::string& layer = "X");
// Writes .h5ad or .csv/.tsv by extension.
absl::Status WriteExpressionFile(const std::string& path, const AnnData& data);

}  // namespace genailab

#endif  // GENAILAB_DATA_CSV_IO_H_
