#include "models/vae_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "common/status_macros.h"
#include "models/row_linear.h"

namespace genailab {
namespace {

absl::Status TorchError(const char* operation, const std::exception& error) {
  return absl::InternalError(absl::StrCat(operation, ": torch failed: ", error.what()));
}

// A copy of `covariates` with column `index` set to `code` in every row.
CovariateCodes WithCode(const CovariateCodes& covariates, int index, int64_t code) {
  CovariateCodes result = covariates;
  for (int64_t& value : result[static_cast<size_t>(index)]) value = code;
  return result;
}

int64_t IndexOf(const std::vector<std::string>& values, const std::string& value) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] == value) return static_cast<int64_t>(i);
  }
  return -1;
}

const LatentConditionMean* FindLatentMean(const ModelManifest& manifest, const std::string& condition) {
  for (const LatentConditionMean& entry : manifest.latent_condition_means) {
    if (entry.condition == condition) return &entry;
  }
  return nullptr;
}

// The row-major codes of a CovariateTensor, or null for an unconditioned model's undefined tensor.
const int64_t* CodesOf(const torch::Tensor& codes) { return codes.defined() ? codes.data_ptr<int64_t>() : nullptr; }

// Layers of a CPU VaeModule run row by row: the linear layers use RowLinear (models/row_linear.h), whose
// row i depends on input row i only, with padded copies of their transposed weights; LayerNorm and ReLU
// are row-wise in torch already, and Dropout is the identity in eval().
class RowwiseLayers {
 public:
  // Appends the layers of `mlp` (a Sequential of Linear, LayerNorm, ReLU and Dropout).
  absl::Status AppendMlp(const torch::nn::Module& mlp, const char* what) {
    for (const auto& layer : mlp.children()) {
      if (const auto* linear = layer->as<torch::nn::LinearImpl>()) {
        AppendLinear(*linear);
      } else if (layer->as<torch::nn::LayerNormImpl>() != nullptr) {
        Step step;
        step.kind = Step::kLayerNorm;
        step.norm = torch::nn::LayerNorm(std::dynamic_pointer_cast<torch::nn::LayerNormImpl>(layer));
        steps_.push_back(std::move(step));
      } else if (layer->as<torch::nn::ReLUImpl>() != nullptr) {
        Step step;
        step.kind = Step::kRelu;
        steps_.push_back(std::move(step));
      } else if (layer->as<torch::nn::DropoutImpl>() == nullptr) {
        return absl::InternalError(absl::StrCat("row-wise ", what, ": unsupported layer ", layer->name()));
      }
    }
    return absl::OkStatus();
  }

  void AppendLinear(const torch::nn::LinearImpl& linear) {
    Step step;
    step.kind = Step::kLinear;
    const torch::Tensor weight = linear.weight.detach().to(torch::kCPU, torch::kFloat32);
    step.out = weight.size(0);
    step.in = weight.size(1);
    step.stride = RowLinearStride(step.out);
    const torch::Tensor wt = weight.t().contiguous();
    step.wt.assign(static_cast<size_t>(step.in * step.stride), 0.0f);
    for (int64_t p = 0; p < step.in; ++p) {
      std::memcpy(step.wt.data() + p * step.stride, wt.data_ptr<float>() + p * step.out,
                  static_cast<size_t>(step.out) * sizeof(float));
    }
    step.bias.assign(static_cast<size_t>(step.stride), 0.0f);
    if (linear.bias.defined()) {
      const torch::Tensor bias = linear.bias.detach().to(torch::kCPU, torch::kFloat32).contiguous();
      std::memcpy(step.bias.data(), bias.data_ptr<float>(), static_cast<size_t>(step.out) * sizeof(float));
    }
    steps_.push_back(std::move(step));
  }

  // The layers applied to h (rows x input width, contiguous float32 on the CPU).
  torch::Tensor Run(torch::Tensor h) const {
    const int64_t rows = h.size(0);
    for (const Step& step : steps_) {
      switch (step.kind) {
        case Step::kLinear: {
          torch::Tensor next = torch::empty({rows, step.out}, torch::kFloat32);
          RowLinear(h.data_ptr<float>(), rows, step.in, step.wt.data(), step.stride, step.bias.data(), step.out,
                    next.data_ptr<float>());
          h = std::move(next);
          break;
        }
        case Step::kLayerNorm:
          h = step.norm->forward(h);
          break;
        case Step::kRelu:
          h = torch::relu(h);
          break;
      }
    }
    return h;
  }

 private:
  struct Step {
    enum Kind { kLinear, kLayerNorm, kRelu } kind = kLinear;
    int64_t in = 0;
    int64_t out = 0;
    int64_t stride = 0;       // RowLinearStride(out)
    std::vector<float> wt;    // in x stride: the transposed weight, zero-padded
    std::vector<float> bias;  // stride, zero-padded
    mutable torch::nn::LayerNorm norm{nullptr};  // forward() is not const; eval-mode forward is pure
  };
  std::vector<Step> steps_;
};

// The covariate embedding tables of a conditioned VaeModule (none for a "vae"), for lookups by row.
class EmbeddingTables {
 public:
  static absl::StatusOr<EmbeddingTables> Of(const VaeModule& module) {
    EmbeddingTables tables;
    if (!module->options().conditioned) return tables;
    tables.dim_ = module->options().covariate_embedding_dim;
    for (const auto& child : module->named_children()["covariate_embeddings"]->children()) {
      const auto* embedding = child->as<torch::nn::EmbeddingImpl>();
      if (embedding == nullptr) return absl::InternalError("a covariate embedding is not an Embedding");
      const torch::Tensor table = embedding->weight.detach().to(torch::kCPU, torch::kFloat32).contiguous();
      tables.tables_.emplace_back(table.data_ptr<float>(), table.data_ptr<float>() + table.numel());
    }
    return tables;
  }

  // rows x (width + covariates * dim): each row of `data` (rows x width) followed by the embeddings of
  // its covariate codes (`codes`: rows x covariates, row-major; unused without covariates), as the
  // module's WithCovariates concatenates them.
  torch::Tensor Concat(const float* data, int64_t rows, int64_t width, const int64_t* codes) const {
    const int64_t columns = static_cast<int64_t>(tables_.size());
    return Build(data, rows, width, [&](int64_t i, int64_t k, float* embedding) {
      const float* looked_up = tables_[static_cast<size_t>(k)].data() + codes[i * columns + k] * dim_;
      std::memcpy(embedding, looked_up, static_cast<size_t>(dim_) * sizeof(float));
    });
  }

  // The same with mixed covariates: each row's embedding for covariate k is sum_c weights[k](row, c) *
  // table_k[c], summed in c order, as the module's WithMixedCovariates mixes them (one-hot weights give
  // the table rows exactly).
  torch::Tensor ConcatMixed(const float* data, int64_t rows, int64_t width,
                            const std::vector<DenseMatrix>& weights) const {
    return Build(data, rows, width, [&](int64_t i, int64_t k, float* embedding) {
      const DenseMatrix& w = weights[static_cast<size_t>(k)];
      const float* table = tables_[static_cast<size_t>(k)].data();
      std::fill(embedding, embedding + dim_, 0.0f);
      for (int64_t c = 0; c < w.cols; ++c) {
        const float weight = w.at(i, c);
        for (int64_t d = 0; d < dim_; ++d) embedding[d] += weight * table[c * dim_ + d];
      }
    });
  }

 private:
  // Each row of `data` followed by `embed(row, k, out)`'s dim floats for every covariate k.
  template <typename Embed>
  torch::Tensor Build(const float* data, int64_t rows, int64_t width, Embed embed) const {
    const int64_t columns = static_cast<int64_t>(tables_.size());
    const int64_t total = width + columns * dim_;
    torch::Tensor h = torch::empty({rows, total}, torch::kFloat32);
    float* hp = h.data_ptr<float>();
    for (int64_t i = 0; i < rows; ++i) {
      float* row = hp + i * total;
      std::memcpy(row, data + i * width, static_cast<size_t>(width) * sizeof(float));
      for (int64_t k = 0; k < columns; ++k) embed(i, k, row + width + k * dim_);
    }
    return h;
  }

  std::vector<std::vector<float>> tables_;  // cardinality x dim, row-major, one per covariate
  int64_t dim_ = 0;
};

}  // namespace

// The row-independent decoder of Generate. Generate promises the same cells for the same seed whatever
// a request is batched with, so the decoder of a CPU VaeModule runs as RowwiseLayers (above); the
// embedding lookups and softmax are row-wise too.
struct VaeModel::ExactDecoder {
  EmbeddingTables embeddings;
  int64_t latent_dim = 0;
  RowwiseLayers layers;
  bool softmax = false;

  static absl::StatusOr<std::shared_ptr<const ExactDecoder>> Create(const VaeModule& module) {
    torch::NoGradGuard no_grad;
    auto decoder = std::make_shared<ExactDecoder>();
    decoder->latent_dim = module->options().latent_dim;
    decoder->softmax = module->options().likelihood == kNegativeBinomialLikelihood;
    GENAILAB_ASSIGN_OR_RETURN(decoder->embeddings, EmbeddingTables::Of(module));
    auto children = module->named_children();
    GENAILAB_RETURN_IF_ERROR(decoder->layers.AppendMlp(*children["decoder"], "decoder"));
    const auto* output = children["decoder_output"]->as<torch::nn::LinearImpl>();
    if (output == nullptr) return absl::InternalError("exact decoder: decoder_output is not a Linear");
    decoder->layers.AppendLinear(*output);
    return std::shared_ptr<const ExactDecoder>(std::move(decoder));
  }

  // Normalized decoder output (proportions for NB, means for Gaussian) of z (rows x latent_dim) with
  // `codes` (rows x covariates, row-major; ignored when unconditioned).
  torch::Tensor Run(const torch::Tensor& z, const int64_t* codes) const {
    return RunInput(embeddings.Concat(z.data_ptr<float>(), z.size(0), latent_dim, codes));
  }

  // The same from the decoder's input (z with its covariate embeddings).
  torch::Tensor RunInput(const torch::Tensor& input) const {
    const torch::Tensor h = layers.Run(input);
    return softmax ? torch::softmax(h, 1) : h;
  }
};

// The encoder of a CPU VaeModule as RowwiseLayers, for small batches: there a forward pass through the
// module is mostly torch's per-operation cost (a 1-cell Encode spent about 27 µs in it, nearly all
// outside the matrix products), which the row-wise layers mostly skip. Large batches keep the module,
// whose BLAS products are faster per cell.
struct VaeModel::RowwiseEncoder {
  EmbeddingTables embeddings;
  int64_t genes = 0;
  RowwiseLayers hidden;
  RowwiseLayers mean;
  RowwiseLayers log_variance;

  static absl::StatusOr<std::shared_ptr<const RowwiseEncoder>> Create(const VaeModule& module) {
    torch::NoGradGuard no_grad;
    auto encoder = std::make_shared<RowwiseEncoder>();
    encoder->genes = module->options().n_genes;
    GENAILAB_ASSIGN_OR_RETURN(encoder->embeddings, EmbeddingTables::Of(module));
    auto children = module->named_children();
    GENAILAB_RETURN_IF_ERROR(encoder->hidden.AppendMlp(*children["encoder"], "encoder"));
    const auto* mean = children["encoder_mean"]->as<torch::nn::LinearImpl>();
    const auto* log_variance = children["encoder_log_variance"]->as<torch::nn::LinearImpl>();
    if (mean == nullptr || log_variance == nullptr) {
      return absl::InternalError("row-wise encoder: encoder_mean / encoder_log_variance is not a Linear");
    }
    encoder->mean.AppendLinear(*mean);
    encoder->log_variance.AppendLinear(*log_variance);
    return std::shared_ptr<const RowwiseEncoder>(std::move(encoder));
  }

  // The last hidden layer's output for x (rows x genes) with `codes` (rows x covariates, row-major).
  torch::Tensor Hidden(const DenseMatrix& x, const int64_t* codes) const {
    return hidden.Run(embeddings.Concat(x.values.data(), x.rows, genes, codes));
  }

  // The posterior of x as the module's Encode computes it: mean, and exp of the clamped log-variance.
  LatentPosterior Run(const DenseMatrix& x, const int64_t* codes) const {
    const torch::Tensor h = Hidden(x, codes);
    return LatentPosterior{TensorToMatrix(mean.Run(h)),
                           TensorToMatrix(log_variance.Run(h).clamp(kMinLogVariance, kMaxLogVariance).exp())};
  }
};

absl::StatusOr<torch::Device> ResolveDevice(const std::string& device) {
  if (device == "cpu") return torch::Device(torch::kCPU);
  if (device == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  int index = 0;
  if (device != "cuda") {
    if (!absl::StartsWith(device, "cuda:") || !absl::SimpleAtoi(device.substr(5), &index) || index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("device must be \"cpu\", \"cuda\", \"cuda:N\" or \"auto\", got \"", device, "\""));
    }
  }
  if (!torch::cuda::is_available()) {
    return absl::UnavailableError(absl::StrCat("device \"", device, "\": CUDA is not available in this build"));
  }
  if (static_cast<size_t>(index) >= torch::cuda::device_count()) {
    return absl::UnavailableError(absl::StrCat("device \"", device, "\": only ", torch::cuda::device_count(),
                                               " CUDA device(s) present"));
  }
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
}

absl::Status ValidateCovariateCodes(const ModelManifest& manifest, const CovariateCodes& codes, int64_t rows,
                                    const std::string& field) {
  if (codes.empty()) {
    if (manifest.model_type == "cvae") {
      return absl::InvalidArgumentError(absl::StrCat(field, ": the model is conditioned on ",
                                                     manifest.covariates.size(), " covariate(s) but none were given"));
    }
    return absl::OkStatus();
  }
  if (codes.size() != manifest.covariates.size()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected ", manifest.covariates.size(),
                                                   " covariate column(s) (one per manifest covariate), got ",
                                                   codes.size()));
  }
  for (size_t k = 0; k < codes.size(); ++k) {
    const CovariateSpec& spec = manifest.covariates[k];
    if (static_cast<int64_t>(codes[k].size()) != rows) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", k, "] (\"", spec.name, "\"): expected ", rows,
                                                     " codes, got ", codes[k].size()));
    }
    const int64_t cardinality = static_cast<int64_t>(spec.values.size());
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t code = codes[k][static_cast<size_t>(row)];
      if (code < 0 || code >= cardinality) {
        return absl::InvalidArgumentError(absl::StrCat(field, "[", k, "] (\"", spec.name, "\"): code ", code,
                                                       " at row ", row, " is out of range [0, ", cardinality,
                                                       ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCovariateWeights(const ModelManifest& manifest, const CovariateWeights& weights, int64_t rows,
                                      const std::string& field) {
  if (weights.empty()) {
    if (manifest.model_type == "cvae") {
      return absl::InvalidArgumentError(absl::StrCat(field, ": the model is conditioned on ",
                                                     manifest.covariates.size(), " covariate(s) but none were given"));
    }
    return absl::OkStatus();
  }
  if (weights.size() != manifest.covariates.size()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected ", manifest.covariates.size(),
                                                   " weight matrices (one per manifest covariate), got ",
                                                   weights.size()));
  }
  for (size_t k = 0; k < weights.size(); ++k) {
    const CovariateSpec& spec = manifest.covariates[k];
    const std::string name = absl::StrCat(field, "[", k, "] (\"", spec.name, "\")");
    GENAILAB_RETURN_IF_ERROR(weights[k].Validate(name));
    if (weights[k].rows != rows || weights[k].cols != static_cast<int64_t>(spec.values.size())) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": expected ", rows, " x ", spec.values.size(),
                                                     " (rows x values), got ", weights[k].rows, " x ",
                                                     weights[k].cols));
    }
    GENAILAB_RETURN_IF_ERROR(weights[k].CheckFinite(name));
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t value = 0; value < weights[k].cols; ++value) {
        if (weights[k].at(row, value) < 0.0f) {
          return absl::InvalidArgumentError(absl::StrCat(name, ": weight of \"", spec.values[value], "\" at row ",
                                                         row, " is negative"));
        }
      }
    }
  }
  return absl::OkStatus();
}

DenseMatrix TensorToMatrix(const torch::Tensor& tensor) {
  torch::Tensor cpu = tensor.to(torch::kCPU, torch::kFloat32).contiguous();
  DenseMatrix matrix(cpu.size(0), cpu.size(1));
  if (!matrix.values.empty()) {
    std::memcpy(matrix.values.data(), cpu.data_ptr<float>(), matrix.values.size() * sizeof(float));
  }
  return matrix;
}

VaeModel::VaeModel(ModelManifest manifest, VaeModule module, torch::Device device)
    : manifest_(std::move(manifest)), module_(std::move(module)), device_(device) {}

absl::StatusOr<std::unique_ptr<VaeModel>> VaeModel::Create(ModelManifest manifest, VaeModule module,
                                                           torch::Device device) {
  GENAILAB_ASSIGN_OR_RETURN(VaeModuleOptions options, VaeModuleOptionsFromManifest(manifest));
  const VaeModuleOptions& built = module->options();
  if (built.n_genes != options.n_genes || built.latent_dim != options.latent_dim ||
      built.hidden_dims != options.hidden_dims || built.conditioned != options.conditioned ||
      built.covariate_cardinalities != options.covariate_cardinalities ||
      built.likelihood != options.likelihood) {
    return absl::InvalidArgumentError("manifest does not describe the module's architecture");
  }
  module->eval();
  std::unique_ptr<VaeModel> model(new VaeModel(std::move(manifest), std::move(module), device));
  if (device.is_cpu()) {
    GENAILAB_ASSIGN_OR_RETURN(model->exact_decoder_, ExactDecoder::Create(model->module_));
    GENAILAB_ASSIGN_OR_RETURN(model->rowwise_encoder_, RowwiseEncoder::Create(model->module_));
  }
  return model;
}

bool VaeModel::negative_binomial() const { return manifest_.likelihood == kNegativeBinomialLikelihood; }

absl::Status VaeModel::ValidateMatrix(const DenseMatrix& matrix, int64_t cols, const std::string& field,
                                      const std::string& cols_name) const {
  GENAILAB_RETURN_IF_ERROR(matrix.Validate(field));
  if (matrix.cols != cols) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": has ", matrix.cols, " columns but the model has ", cols, " ", cols_name));
  }
  return matrix.CheckFinite(field);
}

absl::StatusOr<torch::Tensor> VaeModel::LibrarySizes(const std::vector<float>& library_size, int64_t rows) const {
  if (library_size.empty()) {
    if (!(manifest_.median_library_size > 0)) {
      return absl::FailedPreconditionError(
          "library_size: none given and the manifest's median_library_size is not positive");
    }
    return torch::full({rows}, manifest_.median_library_size,
                       torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  }
  if (static_cast<int64_t>(library_size.size()) != rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("library_size: expected ", rows, " values (one per row), got ", library_size.size()));
  }
  for (size_t i = 0; i < library_size.size(); ++i) {
    if (!(std::isfinite(library_size[i]) && library_size[i] > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("library_size[", i, "] must be finite and > 0, got ", library_size[i]));
    }
  }
  return torch::tensor(library_size, torch::kFloat32).to(device_);
}

torch::Tensor VaeModel::CovariateTensor(const CovariateCodes& covariates, int64_t rows) const {
  if (manifest_.model_type != "cvae") return torch::Tensor();
  const int64_t columns = static_cast<int64_t>(covariates.size());
  torch::Tensor codes = torch::empty({rows, columns}, torch::kInt64);
  auto accessor = codes.accessor<int64_t, 2>();
  for (int64_t k = 0; k < columns; ++k) {
    for (int64_t row = 0; row < rows; ++row) accessor[row][k] = covariates[k][static_cast<size_t>(row)];
  }
  return codes.to(device_);
}

torch::Tensor VaeModel::ToDevice(const DenseMatrix& matrix) const {
  if (matrix.values.empty()) return torch::zeros({matrix.rows, matrix.cols}, torch::TensorOptions().device(device_));
  // from_blob does not own the memory. On the CPU the view itself is returned (no copy of a request's
  // cells per call): every caller uses it within the call, while `matrix` lives, and only reads it.
  torch::Tensor view = torch::from_blob(const_cast<float*>(matrix.values.data()), {matrix.rows, matrix.cols},
                                        torch::kFloat32);
  return device_.is_cpu() ? view : view.to(device_);
}

torch::Tensor VaeModel::EncodeMean(const DenseMatrix& x, const CovariateCodes& covariates) const {
  const torch::Tensor codes = CovariateTensor(covariates, x.rows);
  if (rowwise_encoder_ != nullptr && x.rows <= kRowwiseMaxRows) {
    return rowwise_encoder_->mean.Run(
        rowwise_encoder_->Hidden(x, CodesOf(codes)));
  }
  return module_.ptr()->Encode(ToDevice(x), codes).mean;
}

torch::Tensor VaeModel::DecodeMeanOf(const torch::Tensor& z, const CovariateCodes& covariates,
                                     const torch::Tensor& library) const {
  const torch::Tensor codes = CovariateTensor(covariates, z.size(0));
  if (exact_decoder_ == nullptr || z.size(0) > kRowwiseMaxRows) {
    return module_.ptr()->DecodeMean(z, codes, library);
  }
  return module_.ptr()->ScaleToLibrary(
      exact_decoder_->Run(z.contiguous(), CodesOf(codes)), library);
}

absl::StatusOr<LatentPosterior> VaeModel::Encode(const DenseMatrix& x, const CovariateCodes& covariates) const {
  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(x, manifest_.gene_names.size(), "x", "genes"));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, x.rows, "covariates"));
  try {
    torch::InferenceMode guard;
    const torch::Tensor codes = CovariateTensor(covariates, x.rows);
    if (rowwise_encoder_ != nullptr && x.rows <= kRowwiseMaxRows) return rowwise_encoder_->Run(x, CodesOf(codes));
    VaePosterior posterior = module_.ptr()->Encode(ToDevice(x), codes);
    return LatentPosterior{TensorToMatrix(posterior.mean), TensorToMatrix(posterior.log_variance.exp())};
  } catch (const std::exception& error) {
    return TorchError("Encode", error);
  }
}

absl::StatusOr<DenseMatrix> VaeModel::Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                             const std::vector<float>& library_size) const {
  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(z, manifest_.latent_dim, "z", "latent dimensions"));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, z.rows, "covariates"));
  try {
    torch::InferenceMode guard;
    torch::Tensor library;
    if (negative_binomial()) {
      GENAILAB_ASSIGN_OR_RETURN(library, LibrarySizes(library_size, z.rows));
    }
    return TensorToMatrix(DecodeMeanOf(ToDevice(z), covariates, library));
  } catch (const std::exception& error) {
    return TorchError("Decode", error);
  }
}

absl::StatusOr<DenseMatrix> VaeModel::Generate(int64_t n, const CovariateCodes& covariates, uint64_t seed,
                                               float library_size, bool sample_counts) const {
  // One code path: a call alone is a batch of one, so batched calls reproduce it bit for bit.
  return std::move(GenerateBatch({GenerateCall{n, &covariates, seed, library_size, sample_counts}}).front());
}

absl::Status VaeModel::CheckGenerateCall(const GenerateCall& call) const {
  if (call.n < 0) return absl::InvalidArgumentError(absl::StrCat("n must be >= 0, got ", call.n));
  static const CovariateCodes kNoCovariates;
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(
      manifest_, call.covariates != nullptr ? *call.covariates : kNoCovariates, call.n, "covariates"));
  if (call.sample_counts && !negative_binomial()) {
    return absl::InvalidArgumentError("sample_counts: only negative_binomial models can sample counts");
  }
  if (std::isnan(call.library_size)) return absl::InvalidArgumentError("library_size is NaN");
  if (negative_binomial() && !(call.library_size > 0) && !(manifest_.median_library_size > 0)) {
    return absl::FailedPreconditionError(
        "library_size: none given and the manifest's median_library_size is not positive");
  }
  return absl::OkStatus();
}

std::vector<absl::StatusOr<DenseMatrix>> VaeModel::GenerateBatch(const std::vector<GenerateCall>& calls) const {
  std::vector<absl::StatusOr<DenseMatrix>> results(calls.size(), absl::UnknownError("not run"));
  // The valid calls run together; each invalid one fails alone.
  std::vector<size_t> valid;
  valid.reserve(calls.size());
  int64_t total = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    absl::Status status = CheckGenerateCall(calls[i]);
    if (!status.ok()) {
      results[i] = std::move(status);
      continue;
    }
    valid.push_back(i);
    total += calls[i].n;
  }
  if (valid.empty()) return results;
  try {
    torch::InferenceMode guard;
    const bool conditioned = manifest_.model_type == "cvae";
    const int64_t columns = conditioned ? static_cast<int64_t>(manifest_.covariates.size()) : 0;
    // Each call's latents come from its own generator, seeded with its seed and sampled on the CPU: the
    // same seed gives the same cells on every device and whatever the call is batched with. The
    // generators stay alive for the count noise drawn after the decoder.
    std::vector<at::Generator> generators;
    generators.reserve(valid.size());
    torch::Tensor z = torch::empty({total, manifest_.latent_dim}, torch::kFloat32);
    torch::Tensor codes = conditioned ? torch::empty({total, columns}, torch::kInt64) : torch::Tensor();
    std::vector<float> library;
    if (negative_binomial()) library.reserve(static_cast<size_t>(total));
    int64_t offset = 0;
    for (size_t i : valid) {
      const GenerateCall& call = calls[i];
      generators.push_back(at::detail::createCPUGenerator(call.seed));
      if (call.n == 0) continue;
      // randn into the call's rows draws exactly what torch::randn({n, latent_dim}, generator) draws.
      torch::Tensor rows = z.narrow(0, offset, call.n);
      rows.normal_(0.0, 1.0, generators.back());
      if (conditioned) {
        int64_t* out = codes.data_ptr<int64_t>() + offset * columns;
        for (int64_t k = 0; k < columns; ++k) {
          const std::vector<int64_t>& column = (*call.covariates)[static_cast<size_t>(k)];
          for (int64_t row = 0; row < call.n; ++row) out[row * columns + k] = column[static_cast<size_t>(row)];
        }
      }
      if (negative_binomial()) {
        const float size =
            call.library_size > 0 ? call.library_size : static_cast<float>(manifest_.median_library_size);
        library.insert(library.end(), static_cast<size_t>(call.n), size);
      }
      offset += call.n;
    }
    torch::Tensor library_tensor;
    if (negative_binomial()) {
      library_tensor = torch::from_blob(library.data(), {total}, torch::kFloat32).to(device_);
      if (device_.is_cpu()) library_tensor = library_tensor.clone();
    }
    torch::Tensor mean;
    if (exact_decoder_ != nullptr) {
      mean = module_.ptr()->ScaleToLibrary(exact_decoder_->Run(z, conditioned ? codes.data_ptr<int64_t>() : nullptr),
                                           library_tensor);
    } else {
      // Off the CPU the device's own kernels decode (reproducible per batch shape only).
      mean = module_.ptr()
                 ->DecodeMean(z.to(device_), conditioned ? codes.to(device_) : torch::Tensor(), library_tensor)
                 .to(torch::kCPU);
    }
    bool any_counts = false;
    for (size_t i : valid) any_counts = any_counts || calls[i].sample_counts;
    const torch::Tensor theta = any_counts ? module_.ptr()->Theta().to(torch::kCPU) : torch::Tensor();
    offset = 0;
    for (size_t j = 0; j < valid.size(); ++j) {
      const GenerateCall& call = calls[valid[j]];
      const torch::Tensor part = mean.narrow(0, offset, call.n);
      offset += call.n;
      if (!call.sample_counts) {
        results[valid[j]] = TensorToMatrix(part);
        continue;
      }
      // NB as a Gamma-Poisson mixture: rate ~ Gamma(theta, theta / mu), counts ~ Poisson(rate).
      const torch::Tensor call_theta = theta.expand_as(part).contiguous();
      const torch::Tensor rate = at::_standard_gamma(call_theta, generators[j]) * part / call_theta;
      results[valid[j]] = TensorToMatrix(at::poisson(rate, generators[j]));
    }
  } catch (const std::exception& error) {
    const absl::Status status = TorchError("Generate", error);
    for (size_t i : valid) results[i] = status;
  }
  return results;
}

absl::StatusOr<DenseMatrix> VaeModel::PredictPerturbation(const DenseMatrix& x, const CovariateCodes& covariates,
                                                          const std::string& source, const std::string& target,
                                                          PerturbationMethod method,
                                                          const std::vector<float>& library_size) const {
  if (manifest_.condition_key.empty()) {
    return absl::FailedPreconditionError("the manifest has no condition_key: the model cannot predict perturbations");
  }
  // The vocabulary of conditions: the condition covariate's values, or (a "vae" that lists no covariate
  // for it) the conditions that have latent means.
  const int condition_index = manifest_.CovariateIndex(manifest_.condition_key);
  std::vector<std::string> conditions;
  if (condition_index >= 0) {
    conditions = manifest_.covariates[static_cast<size_t>(condition_index)].values;
  } else {
    for (const LatentConditionMean& entry : manifest_.latent_condition_means) conditions.push_back(entry.condition);
  }
  const int64_t source_code = IndexOf(conditions, source);
  const int64_t target_code = IndexOf(conditions, target);
  if (source_code < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("source: unknown ", manifest_.condition_key, " \"", source, "\""));
  }
  if (target_code < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("target: unknown ", manifest_.condition_key, " \"", target, "\""));
  }

  const bool conditioned_on_condition = manifest_.model_type == "cvae" && condition_index >= 0;
  if (method == PerturbationMethod::kDefault) {
    method = conditioned_on_condition ? PerturbationMethod::kCounterfactual : PerturbationMethod::kLatentArithmetic;
  }
  if (method == PerturbationMethod::kCounterfactual && !conditioned_on_condition) {
    return absl::FailedPreconditionError(absl::StrCat(
        "method: counterfactual prediction needs a cvae conditioned on \"", manifest_.condition_key, "\""));
  }
  const LatentConditionMean* source_mean = nullptr;
  const LatentConditionMean* target_mean = nullptr;
  if (method == PerturbationMethod::kLatentArithmetic) {
    source_mean = FindLatentMean(manifest_, source);
    target_mean = FindLatentMean(manifest_, target);
    for (const auto& [condition, entry] : {std::make_pair(source, source_mean), std::make_pair(target, target_mean)}) {
      if (entry == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("latent_condition_means: no latent mean for condition \"", condition, "\""));
      }
      if (static_cast<int64_t>(entry->mean.size()) != manifest_.latent_dim) {
        return absl::FailedPreconditionError(absl::StrCat("latent_condition_means: the mean for \"", condition,
                                                          "\" has ", entry->mean.size(), " values, not latent_dim ",
                                                          manifest_.latent_dim));
      }
    }
  }

  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(x, manifest_.gene_names.size(), "x", "genes"));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, x.rows, "covariates"));
  const CovariateCodes source_covariates =
      conditioned_on_condition ? WithCode(covariates, condition_index, source_code) : covariates;
  const CovariateCodes target_covariates =
      conditioned_on_condition ? WithCode(covariates, condition_index, target_code) : covariates;
  try {
    torch::InferenceMode guard;
    torch::Tensor library;
    if (negative_binomial()) {
      GENAILAB_ASSIGN_OR_RETURN(library, LibrarySizes(library_size, x.rows));
    }
    torch::Tensor z = EncodeMean(x, source_covariates);
    if (method == PerturbationMethod::kLatentArithmetic) {
      torch::Tensor shift = torch::tensor(target_mean->mean, torch::kFloat32) -
                            torch::tensor(source_mean->mean, torch::kFloat32);
      z = z + shift.to(device_).reshape({1, -1});
    }
    return TensorToMatrix(DecodeMeanOf(z, target_covariates, library));
  } catch (const std::exception& error) {
    return TorchError("PredictPerturbation", error);
  }
}

}  // namespace genailab

namespace genailab {

absl::StatusOr<DenseMatrix> VaeModel::DecodeMixed(const DenseMatrix& z, const CovariateWeights& covariate_weights,
                                                  const std::vector<float>& library_size) const {
  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(z, manifest_.latent_dim, "z", "latent dimensions"));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateWeights(manifest_, covariate_weights, z.rows, "covariate_weights"));
  try {
    torch::InferenceMode guard;
    torch::Tensor library;
    if (negative_binomial()) {
      GENAILAB_ASSIGN_OR_RETURN(library, LibrarySizes(library_size, z.rows));
    }
    if (exact_decoder_ != nullptr && z.rows <= kRowwiseMaxRows) {
      // An unconditioned model has no embedding tables, so covariate weights are never read for it.
      const torch::Tensor normalized = exact_decoder_->RunInput(
          exact_decoder_->embeddings.ConcatMixed(z.values.data(), z.rows, manifest_.latent_dim, covariate_weights));
      return TensorToMatrix(module_.ptr()->ScaleToLibrary(normalized, library));
    }
    std::vector<torch::Tensor> weights;
    if (manifest_.model_type == "cvae") {
      for (const DenseMatrix& matrix : covariate_weights) weights.push_back(ToDevice(matrix));
    }
    return TensorToMatrix(module_.ptr()->DecodeMeanMixed(ToDevice(z), weights, library));
  } catch (const std::exception& error) {
    return TorchError("DecodeMixed", error);
  }
}

absl::StatusOr<LikelihoodBounds> VaeModel::EstimateLikelihoodBounds(const DenseMatrix& x, const DenseMatrix& counts,
                                                                    const CovariateCodes& covariates,
                                                                    const LikelihoodBoundOptions& options) const {
  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(x, manifest_.gene_names.size(), "x", "genes"));
  if (x.rows == 0) return absl::InvalidArgumentError("x: has no rows");
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, x.rows, "covariates"));
  if (options.samples < 1) {
    return absl::InvalidArgumentError(absl::StrCat("samples: must be >= 1, got ", options.samples));
  }
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size: must be >= 1, got ", options.batch_size));
  }
  if (negative_binomial()) {
    GENAILAB_RETURN_IF_ERROR(ValidateMatrix(counts, manifest_.gene_names.size(), "counts", "genes"));
    if (counts.rows != x.rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("counts: has ", counts.rows, " rows but x has ", x.rows));
    }
  }
  try {
    torch::InferenceMode guard;
    at::Generator generator = at::detail::createCPUGenerator(options.seed);
    VaeModuleImpl& module = *module_.ptr();
    const torch::Tensor all_x = ToDevice(x);
    const torch::Tensor all_target = negative_binomial() ? ToDevice(counts) : all_x;
    const torch::Tensor all_covariates = CovariateTensor(covariates, x.rows);
    double elbo_sum = 0.0, iwae_sum = 0.0;
    for (int64_t start = 0; start < x.rows; start += options.batch_size) {
      const int64_t length = std::min(options.batch_size, x.rows - start);
      const torch::Tensor batch_x = all_x.narrow(0, start, length);
      const torch::Tensor batch_target = all_target.narrow(0, start, length);
      const torch::Tensor batch_covariates =
          all_covariates.defined() ? all_covariates.narrow(0, start, length) : torch::Tensor();
      const torch::Tensor library = negative_binomial() ? batch_target.sum(1) : torch::Tensor();
      const torch::Tensor log_weights = module.LogImportanceWeights(batch_x, batch_covariates, batch_target, library,
                                                                    options.samples, generator);
      elbo_sum += MonteCarloElbo(log_weights).sum().item<double>();
      iwae_sum += ImportanceWeightedBound(log_weights).sum().item<double>();
    }
    LikelihoodBounds bounds;
    bounds.elbo = elbo_sum / static_cast<double>(x.rows);
    bounds.iwae = iwae_sum / static_cast<double>(x.rows);
    bounds.samples = options.samples;
    bounds.cells = x.rows;
    return bounds;
  } catch (const std::exception& error) {
    return TorchError("EstimateLikelihoodBounds", error);
  }
}

}  // namespace genailab
