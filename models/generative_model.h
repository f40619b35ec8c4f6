// GenerativeModel: the torch-free face of a trained, loaded model. The server core and the client-side
// tools hold models through this interface, so only models/*.cc include torch.
//
// All matrices are in the model's gene order and already preprocessed (see Preprocessing); covariates
// are given as codes (indices into each CovariateSpec's values), one column per manifest covariate in
// manifest order, each with one code per row. Callers validate shapes and vocabularies first
// (CovariateCodes from covariate_codes.h); implementations still return INVALID_ARGUMENT rather than crash
// on a mismatch, and INTERNAL if torch throws.
//
// Thread-safety: every method is safe to call concurrently once the model is constructed (inference only,
// no mutable state). Ownership: the caller owns the model; it owns its weights and device memory.
#ifndef GENAILAB_MODELS_GENERATIVE_MODEL_H_
#define GENAILAB_MODELS_GENERATIVE_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"
#include "models/model_manifest.h"

namespace genailab {

// covariates[k][i] = code of covariate k for row i. Empty for models without covariates.
using CovariateCodes = std::vector<std::vector<int64_t>>;

struct LatentPosterior {
  DenseMatrix mean;      // cells x latent_dim
  DenseMatrix variance;  // cells x latent_dim
};

enum class PerturbationMethod { kDefault, kLatentArithmetic, kCounterfactual };

// How an iterative model (diffusion, flow matching) samples. Zero / empty fields mean the model's
// defaults (recorded in its manifest).
struct SamplerOptions {
  // e.g. "ddpm", "ddim", "euler_maruyama", "pf_ode_heun", "predictor_corrector", "euler", "heun".
  std::string sampler;
  int steps = 0;
  float eta = 0.0f;             // DDIM stochasticity (0 = deterministic)
  float guidance_scale = 0.0f;  // classifier-free guidance weight (0 = model default, 1 = conditional only)
};

// Covariate mixtures: one cells x cardinality weight matrix per manifest covariate (in manifest order);
// row i of matrix k weighs the values of covariate k for cell i (one-hot = an ordinary code).
using CovariateWeights = std::vector<DenseMatrix>;

// Importance-sampled bounds on log p(x) (nats per cell, averaged over cells).
struct LikelihoodBoundOptions {
  int samples = 50;           // K draws from q(z | x) per cell
  uint64_t seed = 0;          // the draws: the same seed gives the same bounds
  int64_t batch_size = 256;   // cells per forward pass
};
struct LikelihoodBounds {
  double elbo = 0.0;  // Monte-Carlo ELBO: mean over the K draws of log w_k
  double iwae = 0.0;  // IWAE bound: log of the mean of w_k over the same draws; >= elbo
  int samples = 0;
  int64_t cells = 0;
};

// The state of one request's iterative sampling (its current sample, its step, its own random stream).
// Created by GenerativeModel::BeginGeneration / BeginPerturbation, advanced by StepSessions (which may
// advance sessions of many requests in one batched forward pass), and turned into cells by
// FinishSession. A session is used by one thread at a time; the model that made it must outlive it.
class SamplingSession {
 public:
  virtual ~SamplingSession() = default;
  virtual int64_t rows() const = 0;
  virtual int steps_total() const = 0;
  virtual int steps_done() const = 0;
  bool done() const { return steps_done() >= steps_total(); }
  // The library size of each row (rows() values) for models that decode through a negative-binomial
  // decoder (e.g. diffusion in such a VAE's latent space); empty = the training median. Models without one
  // ignore it. Set before the first step.
  virtual void SetLibrarySize(std::vector<float> library_size) { (void)library_size; }
};

class GenerativeModel {
 public:
  virtual ~GenerativeModel() = default;

  virtual const ModelManifest& manifest() const = 0;

  // Whether Encode and Decode work: false for a model without a latent space (e.g. diffusion in PCA
  // space), whose Encode / Decode answer UNIMPLEMENTED. GetModel lists them only when this holds.
  virtual bool HasLatentSpace() const { return true; }

  // Posterior q(z | x, covariates). x: cells x genes (preprocessed).
  virtual absl::StatusOr<LatentPosterior> Encode(const DenseMatrix& x,
                                                 const CovariateCodes& covariates) const = 0;

  // Decoder mean in the output space. library_size: one per row for negative-binomial models (empty =
  // the manifest's median); ignored for Gaussian ones.
  virtual absl::StatusOr<DenseMatrix> Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                             const std::vector<float>& library_size) const = 0;

  // One cell per row of `covariates` (rows = n when the model has no covariates), z ~ N(0, I) from a
  // generator seeded with `seed`: the same arguments give the same cells. sample_counts draws NB counts
  // instead of returning the mean (negative-binomial models only).
  virtual absl::StatusOr<DenseMatrix> Generate(int64_t n, const CovariateCodes& covariates,
                                               uint64_t seed, float library_size,
                                               bool sample_counts) const = 0;

  // The arguments of one Generate call, for GenerateBatch. `covariates` is not owned and must outlive
  // the GenerateBatch call.
  struct GenerateCall {
    int64_t n = 0;
    const CovariateCodes* covariates = nullptr;
    uint64_t seed = 0;
    float library_size = 0.0f;
    bool sample_counts = false;
  };
  // Several Generate calls at once: result i is bit-identical to Generate(calls[i]...) (each call draws
  // its latents and count noise from its own generator seeded with its seed), while an implementation
  // may run one forward pass over all of them. A bad call fails alone. The default runs the calls one by
  // one.
  virtual std::vector<absl::StatusOr<DenseMatrix>> GenerateBatch(const std::vector<GenerateCall>& calls) const {
    std::vector<absl::StatusOr<DenseMatrix>> results;
    results.reserve(calls.size());
    static const CovariateCodes kNoCovariates;
    for (const GenerateCall& call : calls) {
      results.push_back(Generate(call.n, call.covariates != nullptr ? *call.covariates : kNoCovariates, call.seed,
                                 call.library_size, call.sample_counts));
    }
    return results;
  }

  // Predicts each cell of x (observed under condition `source`) under condition `target` of the
  // manifest's condition_key. For a model conditioned on the condition covariate, `covariates` holds
  // every covariate with the condition column already set to source's code. library_size per row for
  // negative-binomial models (empty = the manifest's median). INVALID_ARGUMENT for an unknown source or
  // target; FAILED_PRECONDITION when the model lacks what the method needs (no condition key,
  // counterfactual on a model not conditioned on the condition, no latent mean for a condition).
  virtual absl::StatusOr<DenseMatrix> PredictPerturbation(const DenseMatrix& x,
                                                          const CovariateCodes& covariates,
                                                          const std::string& source,
                                                          const std::string& target,
                                                          PerturbationMethod method,
                                                          const std::vector<float>& library_size) const = 0;

  // --- Iterative sampling (diffusion, flow matching); VAEs keep the UNIMPLEMENTED defaults. ---
  // The same seed and options give the same cells, whichever sessions a StepSessions call batches
  // together.

  // Starts sampling n cells (one per row of `covariates`) with the request's own random stream.
  virtual absl::StatusOr<std::unique_ptr<SamplingSession>> BeginGeneration(
      int64_t n, const CovariateCodes& covariates, uint64_t seed, const SamplerOptions& sampler) const {
    return absl::UnimplementedError("this model does not sample iteratively");
  }
  // Starts predicting x (under `source`) under `target` by iterative sampling (e.g. scPPDM-style
  // conditioning on the control cell, or a flow from control to perturbed cells).
  virtual absl::StatusOr<std::unique_ptr<SamplingSession>> BeginPerturbation(
      const DenseMatrix& x, const CovariateCodes& covariates, const std::string& source,
      const std::string& target, uint64_t seed, const SamplerOptions& sampler) const {
    return absl::UnimplementedError("this model does not predict perturbations iteratively");
  }
  // Advances every session (made by this model, not done) by one step. Sessions may be at different
  // steps and use different samplers. INVALID_ARGUMENT for a finished or foreign session.
  virtual absl::Status StepSessions(const std::vector<SamplingSession*>& sessions) const {
    return absl::UnimplementedError("this model does not sample iteratively");
  }
  // The cells of a finished session, in the model's output space. FAILED_PRECONDITION if not done.
  virtual absl::StatusOr<DenseMatrix> FinishSession(SamplingSession* session) const {
    return absl::UnimplementedError("this model does not sample iteratively");
  }
  // Sampler names this model accepts (empty for models that do not sample iteratively).
  virtual std::vector<std::string> Samplers() const { return {}; }

  // --- Latent-variable models (VAEs); others keep the UNIMPLEMENTED defaults. ---

  // Decoder mean for z (cells x latent_dim) under mixed covariate values: the decoder sees the weighted
  // sum of the covariates' embeddings (see CovariateWeights; empty for a model without covariates).
  // One-hot weights give exactly Decode. library_size as for Decode. INVALID_ARGUMENT naming the field
  // for shape mismatches, negative or non-finite weights.
  virtual absl::StatusOr<DenseMatrix> DecodeMixed(const DenseMatrix& z, const CovariateWeights& covariate_weights,
                                                  const std::vector<float>& library_size) const {
    return absl::UnimplementedError("this model does not decode mixed covariates");
  }
  // ELBO and IWAE bounds of cells x (preprocessed input) under the model; `counts` are the raw counts
  // the likelihood scores for negative-binomial models (empty otherwise). INVALID_ARGUMENT naming the
  // field for bad shapes or options.
  virtual absl::StatusOr<LikelihoodBounds> EstimateLikelihoodBounds(const DenseMatrix& x, const DenseMatrix& counts,
                                                                    const CovariateCodes& covariates,
                                                                    const LikelihoodBoundOptions& options) const {
    return absl::UnimplementedError("this model has no likelihood bounds");
  }
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_GENERATIVE_MODEL_H_
