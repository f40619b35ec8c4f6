// GenailabClient: a typed C++ client for genailab.v1.GenerativeService. It turns AnnData / DenseMatrix
// values into requests (genes named by var_names, covariates taken from obs columns) and responses back
// into AnnData / DenseMatrix, and converts each gRPC status once into an absl::Status with the same code
// and message.
//
// Ownership: the client owns its stub and shares the channel (Create makes one; the channel overload
// shares the caller's).
// Thread-safety: thread-safe. Every method is const and uses only the gRPC stub, which may be called from
// many threads at once; the client holds no other mutable state.
#ifndef GENAILAB_CLIENT_GENAILAB_CLIENT_H_
#define GENAILAB_CLIENT_GENAILAB_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "data/anndata.h"
#include "data/matrix.h"
#include "genailab/v1/generative_service.pb.h"
// PerturbationMethod: the models layer's enum (kDefault, kLatentArithmetic, kCounterfactual).
#include "models/generative_model.h"
#include "models/perturbation_method_codec.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace genailab {

// Names a served model; version 0 means the newest loaded version.
struct ModelRef {
  std::string name;
  int64_t version = 0;
};

// How request genes map onto the model's genes (see v1::GeneMatching).
struct GeneMatchingOptions {
  // Model genes absent from the request are zero-filled instead of rejected.
  bool zero_fill_missing = false;
  // Request genes the model does not know are dropped instead of rejected.
  bool ignore_unknown = false;
};

// How expression matrices travel in requests.
enum class MatrixEncoding {
  kAuto,   // CSR when the nonzero fraction is below Options::csr_max_density, dense otherwise.
  kDense,
  kCsr,
};

struct EncodeResult {
  DenseMatrix mean;       // cells x latent_dim
  DenseMatrix variance;   // cells x latent_dim
  int64_t version = 0;    // The model version that answered.
};

struct DecodeResult {
  DenseMatrix expression;               // cells x genes, in the model's output space
  std::vector<std::string> gene_names;  // expression.cols names
  int64_t version = 0;
};

// n_cells cells under one covariate combination (covariate name -> value).
struct CellGroup {
  std::map<std::string, std::string> covariates;
  int64_t n_cells = 0;
};

// Points decoded along a path (Interpolate, TraverseLatent).
struct LatentPathResult {
  DenseMatrix latents;                  // steps x latent_dim
  DenseMatrix expression;               // steps x genes, in the model's output space
  std::vector<std::string> gene_names;  // expression.cols names
  // Per point: the fraction along the path (interpolation) or the axis value (traversal).
  std::vector<float> positions;
  int64_t version = 0;
};

class GenailabClient {
 public:
  struct Options {
    // host:port of the server.
    std::string target = "127.0.0.1:50051";
    // Largest message sent or received, in bytes.
    int64_t max_message_bytes = int64_t{256} << 20;
    // Deadline of each RPC, from the moment it starts.
    absl::Duration timeout = absl::Minutes(5);
    MatrixEncoding encoding = MatrixEncoding::kAuto;
    // kAuto sends CSR when fewer than this fraction of the values are nonzero.
    double csr_max_density = 0.3;
    // TLS: a PEM CA bundle to verify the server with; set = the channel uses TLS.
    std::string tls_ca_file;
    // Mutual TLS: this client's PEM certificate chain and private key (both or neither; require
    // tls_ca_file).
    std::string tls_cert_file;
    std::string tls_key_file;
    // Sends "authorization: Bearer <token>" with every call, the token being the file's first token
    // (common/credential_files.h). Requires tls_ca_file: tokens never travel in clear text.
    std::string token_file;
    // Generate asks for more cells than this through GenerateStream (the same cells, in chunks of the
    // server's default size), so that a request above the server's --max_cells_per_request (default
    // 100,000) or the message limit still works. 0 = always stream. Must not be negative.
    int64_t stream_above_cells = 65536;
  };

  // Opens a channel to options.target with raised message limits: plaintext, or TLS / mutual TLS and
  // bearer token per the tls_* and token_file options. The channel connects lazily, so an unreachable
  // server shows up as UNAVAILABLE on the first call (so does a server that refuses the TLS handshake).
  // INVALID_ARGUMENT for an empty target, a non-positive max_message_bytes or timeout, csr_max_density
  // outside [0, 1], a negative stream_above_cells, or tls_cert_file/tls_key_file/token_file without the options they require; NOT_FOUND
  // or PERMISSION_DENIED naming the option whose file is missing or unreadable.
  static absl::StatusOr<std::unique_ptr<GenailabClient>> Create(const Options& options);
  // Uses an existing channel (e.g. an in-process test server); options.target is ignored.
  static absl::StatusOr<std::unique_ptr<GenailabClient>> Create(std::shared_ptr<grpc::Channel> channel,
                                                                const Options& options);

  ~GenailabClient();
  GenailabClient(const GenailabClient&) = delete;
  GenailabClient& operator=(const GenailabClient&) = delete;

  // Every RPC method below returns the server's status unchanged (code and message) when the RPC fails,
  // e.g. UNAVAILABLE when the server cannot be reached, DEADLINE_EXCEEDED after Options::timeout,
  // NOT_FOUND for an unknown model, INVALID_ARGUMENT for input the server rejects. A response that breaks
  // the API's shape rules gives INTERNAL naming the field.

  // The newest loaded version of every model.
  absl::StatusOr<std::vector<v1::ModelInfo>> ListModels() const;
  absl::StatusOr<v1::ModelInfo> GetModel(const std::string& name, int64_t version = 0) const;

  // Encodes cells.x (genes named by cells.var_names) with covariates from the obs columns named in
  // covariate_keys (numeric obs columns are sent as their decimal text). Before any RPC: NOT_FOUND naming
  // a missing obs column, INVALID_ARGUMENT if cells is inconsistent (AnnData::Validate).
  absl::StatusOr<EncodeResult> Encode(const ModelRef& model, const AnnData& cells,
                                      const std::vector<std::string>& covariate_keys,
                                      const GeneMatchingOptions& gene_matching = {}) const;

  // Decodes latent (cells x latent_dim). covariates: name -> one value per cell. library_sizes: one per
  // cell, or empty for the training median. INVALID_ARGUMENT before any RPC for an inconsistent latent or
  // a covariate / library_sizes length other than latent.rows.
  absl::StatusOr<DecodeResult> Decode(const ModelRef& model, const DenseMatrix& latent,
                                      const std::map<std::string, std::vector<std::string>>& covariates,
                                      const std::vector<float>& library_sizes = {}) const;

  // Generates sum(n_cells) cells, groups in order. The result has x = cells, var_names = the model's
  // genes, one obs column per covariate, obs_names "gen_0".."gen_{n-1}". INVALID_ARGUMENT before any RPC
  // for no groups or a negative n_cells. `sampler`: iterative models only (zero fields = the model's
  // defaults). Above Options::stream_above_cells cells the cells come through GenerateStream (the same
  // cells for the same arguments; the stream's deadline is Options::timeout too).
  absl::StatusOr<AnnData> Generate(const ModelRef& model, const std::vector<CellGroup>& groups,
                                   uint64_t seed = 0, float library_size = 0.0f,
                                   bool sample_counts = false, const SamplerOptions& sampler = {}) const;

  // Predicts control_cells under target_condition. The result keeps the input's obs_names, obs and
  // obs_numeric, except that the model's condition column is set to target_condition; x = the
  // prediction, var_names = the model's genes. Pre-RPC errors as for Encode. `sampler` and `seed`:
  // iterative models only (zero fields = the model's defaults).
  absl::StatusOr<AnnData> PredictPerturbation(const ModelRef& model, const AnnData& control_cells,
                                              const std::vector<std::string>& covariate_keys,
                                              const std::string& source_condition,
                                              const std::string& target_condition,
                                              PerturbationMethod method = PerturbationMethod::kDefault,
                                              const GeneMatchingOptions& gene_matching = {},
                                              const SamplerOptions& sampler = {}, uint64_t seed = 0) const;

  // Latent-variable models. covariates: name -> value for every point (a conditional model needs them
  // all); library_size 0 = the training median (negative-binomial models). INVALID_ARGUMENT before any
  // RPC for endpoints / latents of different sizes or steps < 2.

  // Decodes `steps` points on the straight line from latent `from` to latent `to` (to interpolate between
  // two cells, Encode them and pass their means).
  absl::StatusOr<LatentPathResult> InterpolateLatents(const ModelRef& model, const std::vector<float>& from,
                                                      const std::vector<float>& to, int steps,
                                                      const std::map<std::string, std::string>& covariates,
                                                      float library_size = 0.0f) const;
  // Decodes `latent` (empty = the origin) while covariate `covariate` blends from from_value to to_value.
  absl::StatusOr<LatentPathResult> InterpolateCovariate(const ModelRef& model, const std::string& covariate,
                                                        const std::string& from_value, const std::string& to_value,
                                                        int steps, const std::vector<float>& latent,
                                                        const std::map<std::string, std::string>& covariates,
                                                        float library_size = 0.0f) const;
  // Decodes `latent` (empty = the origin) with dimension `axis` running from start to end (both 0 = the
  // server's default range, -3 to 3).
  absl::StatusOr<LatentPathResult> TraverseLatent(const ModelRef& model, int64_t axis, float start, float end,
                                                  int steps, const std::vector<float>& latent,
                                                  const std::map<std::string, std::string>& covariates,
                                                  float library_size = 0.0f) const;

  // Implementation details follow.
 private:
  struct Stub;
  GenailabClient(std::shared_ptr<grpc::Channel> channel, const Options& options);

  // Fills proto with cells.x (dense or CSR per options_) named by cells.var_names.
  void CellsToProto(const AnnData& cells, v1::Matrix* proto) const;
  // The gene names of a response matrix of model `model`, version `version`: its column_names or, when
  // the server left them out (the inference calls set omit_column_names), that version's genes from
  // GetModel, fetched once per version (a published version never changes). NOT_FOUND when the version
  // is gone by then; INTERNAL when the count does not match the matrix.
  absl::StatusOr<std::vector<std::string>> ColumnGenes(const v1::Matrix& proto, const std::string& model,
                                                       int64_t version) const;
  // `call(omit_column_names)` makes the RPC; CallNamed makes it with true and returns the response with
  // the genes of its `matrix` in `*genes`. A version retired before its genes were fetched is asked again
  // with names (false).
  template <typename Response, typename Call>
  absl::StatusOr<Response> CallNamed(const Call& call, const std::string& model,
                                     const v1::Matrix& (Response::*matrix)() const,
                                     std::vector<std::string>* genes) const;
  // Appends one Generate response or stream message to `generated` (x, var_names from the first
  // message, obs). The genes are `*known_genes` when given (a response without names), else the
  // message's column names. INTERNAL naming what breaks the API's shape rules.
  static absl::Status AppendGenerated(const v1::GenerateResponse& response,
                                      const std::vector<std::string>* known_genes, AnnData* generated);
  // Generate through GenerateStream, the messages appended in order.
  absl::Status GenerateByStream(const v1::GenerateRequest& request, AnnData* generated) const;

  const Options options_;
  std::unique_ptr<Stub> stub_;
  mutable absl::Mutex genes_mu_;
  // (model, version) -> gene names.
  mutable std::map<std::pair<std::string, int64_t>, std::vector<std::string>> genes_ ABSL_GUARDED_BY(genes_mu_);
};

// The method for the name the CLI uses ("default", "latent_arithmetic", "counterfactual").
// INVALID_ARGUMENT naming an unknown name. (PerturbationMethodToProto is in
// models/perturbation_method_codec.h.)
absl::StatusOr<PerturbationMethod> ParsePerturbationMethod(const std::string& name);

}  // namespace genailab

#endif  // GENAILAB_CLIENT_GENAILAB_CLIENT_H_
