// Loading a checkpoint version folder (<repository>/<model>/<version>/: manifest.json + weights) into a
// GenerativeModel on a device chosen at run time.
#ifndef GENAILAB_MODELS_CHECKPOINT_H_
#define GENAILAB_MODELS_CHECKPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/generative_model.h"

namespace genailab {

// Hex sha256 of a file's bytes. NOT_FOUND / INTERNAL on I/O failure.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

// Reads manifest.json, checks the weights' sha256 against it (DATA_LOSS on mismatch), builds the module
// and loads the weights onto `device` ("cpu", "cuda:N", "auto"). NOT_FOUND if the folder or a file is
// missing; INVALID_ARGUMENT / FAILED_PRECONDITION from the manifest; UNAVAILABLE if the device is not
// available; INTERNAL if torch fails.
absl::StatusOr<std::unique_ptr<GenerativeModel>> LoadCheckpoint(const std::string& directory,
                                                                 const std::string& device);

}  // namespace genailab

#endif  // GENAILAB_MODELS_CHECKPOINT_H_
