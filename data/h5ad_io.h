// Reading and writing .h5ad files (anndata >= 0.8 on-disk format, "encoding-type" attributes) over HDF5's
// C API. Stateless functions; safe to call from several threads only if HDF5 is built thread-safe, so
// callers serialize them (Debian's serial HDF5 is not).
#ifndef GENAILAB_DATA_H5AD_IO_H_
#define GENAILAB_DATA_H5AD_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "data/anndata.h"

namespace genailab {

struct H5adReadOptions {
  // Which matrix becomes AnnData::x: "X", "raw/X" or "layers/<name>". Dense or CSR on disk.
  // For "raw/X" the gene names come from raw/var.
  std::string layer = "X";
};

// NOT_FOUND if the file or layer does not exist; INVALID_ARGUMENT if it is not a readable h5ad (naming
// the offending group); UNIMPLEMENTED for CSC matrices or other encodings not supported.
absl::StatusOr<AnnData> ReadH5ad(const std::string& path, const H5adReadOptions& options = {});

// Writes X dense, obs (string columns as categoricals), var, obsm, varm and uns string lists, readable by
// anndata.read_h5ad. Overwrites `path`. INTERNAL on an HDF5 failure, INVALID_ARGUMENT if data.Validate()
// fails.
absl::Status WriteH5ad(const std::string& path, const AnnData& data);

}  // namespace genailab

#endif  // GENAILAB_DATA_H5AD_IO_H_
