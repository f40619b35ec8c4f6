// Models-internal (includes torch): VaeModel, the GenerativeModel over a VaeModule on one device, and the
// helpers that training and checkpoint loading share with it.
#ifndef GENAILAB_MODELS_VAE_MODEL_H_
#define GENAILAB_MODELS_VAE_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/matrix.h"
#include "models/generative_model.h"
#include "models/model_manifest.h"
#include "models/vae_module.h"

namespace genailab {

// "cpu", "cuda" (= cuda:0), "cuda:N", or "auto" (cuda:0 if CUDA is available, else cpu).
// UNAVAILABLE if CUDA is asked for but not available (or N is not a device); INVALID_ARGUMENT for any
// other string.
absl::StatusOr<torch::Device> ResolveDevice(const std::string& device);

// Checks covariate codes against the manifest: either empty (only allowed when the model is not
// conditioned, i.e. a "vae") or one column per manifest covariate, each with `rows` codes in range of that
// covariate's vocabulary. INVALID_ARGUMENT naming `field`, the covariate and the row.
absl::Status ValidateCovariateCodes(const ModelManifest& manifest, const CovariateCodes& codes, int64_t rows,
                                    const std::string& field);

// A trained VAE / cVAE ready for inference. Owns its manifest and shares ownership of the module, which it
// keeps in eval() mode; every method runs under torch::InferenceMode, validates its inputs first
// (INVALID_ARGUMENT naming the field) and turns torch exceptions into INTERNAL.
// Thread-safe: all methods are const and only run forward passes.
class VaeModel final : public GenerativeModel {
 public:
  // `module` must have been built from VaeModuleOptionsFromManifest(manifest) and already moved to
  // `device`. INVALID_ARGUMENT if the manifest is inconsistent or does not describe the module.
  static absl::StatusOr<std::unique_ptr<VaeModel>> Create(ModelManifest manifest, VaeModule module,
                                                          torch::Device device);

  const ModelManifest& manifest() const override { return manifest_; }
  torch::Device device() const { return device_; }
  // The network (for saving); callers must not train it while the model serves.
  const VaeModule& module() const { return module_; }

  // On the CPU, Encode, Decode, DecodeMixed and PredictPerturbation run batches of up to kRowwiseMaxRows
  // cells row by row (RowLinear), where torch's per-operation cost would dominate the module's forward pass; larger
  // batches run through the module (BLAS). The two agree up to float rounding.
  static constexpr int64_t kRowwiseMaxRows = 24;
  absl::StatusOr<LatentPosterior> Encode(const DenseMatrix& x, const CovariateCodes& covariates) const override;
  absl::StatusOr<DenseMatrix> Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                     const std::vector<float>& library_size) const override;
  // library_size <= 0 means the manifest's median_library_size.
  absl::StatusOr<DenseMatrix> Generate(int64_t n, const CovariateCodes& covariates, uint64_t seed,
                                       float library_size, bool sample_counts) const override;
  // One decoder pass over every valid call's rows; see GenerativeModel::GenerateBatch.
  std::vector<absl::StatusOr<DenseMatrix>> GenerateBatch(const std::vector<GenerateCall>& calls) const override;
  absl::StatusOr<DenseMatrix> PredictPerturbation(const DenseMatrix& x, const CovariateCodes& covariates,
                                                  const std::string& source, const std::string& target,
                                                  PerturbationMethod method,
                                                  const std::vector<float>& library_size) const override;
  absl::StatusOr<DenseMatrix> DecodeMixed(const DenseMatrix& z, const CovariateWeights& covariate_weights,
                                          const std::vector<float>& library_size) const override;
  // Library sizes for NB models are the row sums of `counts`.
  absl::StatusOr<LikelihoodBounds> EstimateLikelihoodBounds(const DenseMatrix& x, const DenseMatrix& counts,
                                                            const CovariateCodes& covariates,
                                                            const LikelihoodBoundOptions& options) const override;

 private:
  VaeModel(ModelManifest manifest, VaeModule module, torch::Device device);

  bool negative_binomial() const;
  // Generate's argument checks for one call (INVALID_ARGUMENT / FAILED_PRECONDITION).
  absl::Status CheckGenerateCall(const GenerateCall& call) const;
  // INVALID_ARGUMENT unless `matrix` is valid, finite and has `cols` columns.
  absl::Status ValidateMatrix(const DenseMatrix& matrix, int64_t cols, const std::string& field,
                              const std::string& cols_name) const;
  // Per-row library sizes on the device (empty = the manifest's median for every row). Only for NB models.
  absl::StatusOr<torch::Tensor> LibrarySizes(const std::vector<float>& library_size, int64_t rows) const;
  // The conditioned covariates as an int64 rows x K tensor on the device (undefined for a "vae").
  torch::Tensor CovariateTensor(const CovariateCodes& covariates, int64_t rows) const;
  // `matrix` as a float tensor on the device. On the CPU it aliases matrix's memory: use it only while
  // `matrix` lives, and never write to it.
  torch::Tensor ToDevice(const DenseMatrix& matrix) const;
  // The posterior mean of x, and the decoded mean of z (rows x latent_dim, on the device), each row by
  // row for small batches on the CPU (see kRowwiseMaxRows) and through the module otherwise. `library`:
  // per-row library sizes for NB models, else undefined.
  torch::Tensor EncodeMean(const DenseMatrix& x, const CovariateCodes& covariates) const;
  torch::Tensor DecodeMeanOf(const torch::Tensor& z, const CovariateCodes& covariates,
                             const torch::Tensor& library) const;

  // Generate's row-independent decoder and the small-batch encoder (defined in vae_model.cc); null off
  // the CPU.
  struct ExactDecoder;
  struct RowwiseEncoder;

  const ModelManifest manifest_;
  const VaeModule module_;
  const torch::Device device_;
  std::shared_ptr<const ExactDecoder> exact_decoder_;
  std::shared_ptr<const RowwiseEncoder> rowwise_encoder_;
};

// Checks mixed covariate weights against the manifest: either empty (only allowed when the model is not
// conditioned) or one rows x cardinality matrix per manifest covariate, finite and >= 0.
// INVALID_ARGUMENT naming `field`, the covariate and the offending row.
absl::Status ValidateCovariateWeights(const ModelManifest& manifest, const CovariateWeights& weights, int64_t rows,
                                      const std::string& field);

// Copies a 2-D float tensor (any device) into a DenseMatrix.
DenseMatrix TensorToMatrix(const torch::Tensor& tensor);

}  // namespace genailab

#endif  // GENAILAB_MODELS_VAE_MODEL_H_
