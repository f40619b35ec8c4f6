// Writing a checkpoint version folder: the serialized weights and manifest.json, each fsynced, with the
// manifest's version and weights_sha256 filled in. Shared by every trainable model family (VAE,
// diffusion, flow matching), which differ only in how they serialize their weights. Torch-free.
#ifndef GENAILAB_MODELS_CHECKPOINT_WRITER_H_
#define GENAILAB_MODELS_CHECKPOINT_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "models/model_manifest.h"

namespace genailab {

// Writes `bytes` to `path` (created or truncated) and fsyncs it. INTERNAL naming the path on I/O errors.
absl::Status WriteFileSynced(const std::string& path, const std::string& bytes);

// Writes `weights` as <directory>/<manifest.weights_file> (default "weights.pt") and manifest.json with
// `version` and the weights' sha256. NOT_FOUND if `directory` does not exist; INTERNAL on I/O errors.
absl::Status WriteCheckpointFiles(const std::string& directory, int64_t version, ModelManifest manifest,
                                  const std::string& weights);

}  // namespace genailab

#endif  // GENAILAB_MODELS_CHECKPOINT_WRITER_H_
