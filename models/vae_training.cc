#include "models/vae_training.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "models/checkpoint.h"
#include "models/vae_model.h"
#include "models/vae_module.h"

namespace genailab {
namespace {

// Rows per forward pass when evaluating (validation loss, latent means).
constexpr int64_t kEvaluationBatch = 4096;
// Gradient-norm clip: keeps early NB steps (large counts, random decoder) from diverging.
constexpr double kMaxGradientNorm = 100.0;

// Writes `bytes` to `path` and fsyncs it. INTERNAL on any I/O error.
absl::Status WriteFileSynced(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t result = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (result < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(saved)));
    }
    written += static_cast<size_t>(result);
  }
  if (::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot fsync ", path, ": ", std::strerror(saved)));
  }
  if (::close(fd) != 0) return absl::InternalError(absl::StrCat("cannot close ", path, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

// The model right after training: a VaeModel plus the ability to write itself as a checkpoint.
// Thread-safe like VaeModel (Save only reads the module).
class TrainedVaeImpl final : public TrainedVae {
 public:
  explicit TrainedVaeImpl(std::unique_ptr<VaeModel> model) : model_(std::move(model)) {}

  const GenerativeModel& model() const override { return *model_; }

  absl::Status Save(const std::string& directory, int64_t version) const override {
    std::error_code error;
    if (!std::filesystem::is_directory(directory, error)) {
      return absl::NotFoundError(absl::StrCat("Save: directory ", directory, " does not exist"));
    }
    ModelManifest manifest = model_->manifest();
    manifest.version = version;
    if (manifest.weights_file.empty()) manifest.weights_file = "weights.pt";
    const std::filesystem::path folder(directory);
    const std::string weights_path = (folder / manifest.weights_file).string();
    std::string weights;
    try {
      // Saved from a CPU copy so the file loads anywhere (Python included) whatever device trained it.
      torch::NoGradGuard no_grad;
      auto copy = std::dynamic_pointer_cast<VaeModuleImpl>(model_->module()->clone(torch::Device(torch::kCPU)));
      std::ostringstream stream;
      torch::save(VaeModule(copy), stream);
      weights = stream.str();
    } catch (const std::exception& exception) {
      return absl::InternalError(absl::StrCat("Save: torch failed serializing weights: ", exception.what()));
    }
    GENAILAB_RETURN_IF_ERROR(WriteFileSynced(weights_path, weights));
    absl::StatusOr<std::string> sha256 = Sha256OfFile(weights_path);
    if (!sha256.ok()) return absl::InternalError(sha256.status().message());
    manifest.weights_sha256 = *sha256;
    return WriteFileSynced((folder / "manifest.json").string(), manifest.ToJson());
  }

 private:
  std::unique_ptr<VaeModel> model_;
};

absl::Status ValidateOptions(const VaeTrainingOptions& options) {
  if (options.epochs < 1) return absl::InvalidArgumentError(absl::StrCat("epochs must be >= 1, got ", options.epochs));
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be >= 1, got ", options.batch_size));
  }
  if (!(options.learning_rate > 0) || !std::isfinite(options.learning_rate)) {
    return absl::InvalidArgumentError(absl::StrCat("learning_rate must be > 0, got ", options.learning_rate));
  }
  if (options.kl_warmup_epochs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kl_warmup_epochs must be >= 0, got ", options.kl_warmup_epochs));
  }
  if (options.intra_op_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("intra_op_threads must be >= 0, got ", options.intra_op_threads));
  }
  return absl::OkStatus();
}

// `name` is "train" or "validation": every message starts with e.g. "train.x".
absl::Status ValidateData(const ModelManifest& manifest, const TrainingData& data, const std::string& name) {
  const std::string x_field = name + ".x";
  GENAILAB_RETURN_IF_ERROR(data.x.Validate(x_field));
  if (data.x.rows == 0) return absl::InvalidArgumentError(absl::StrCat(x_field, ": has no rows"));
  const int64_t genes = static_cast<int64_t>(manifest.gene_names.size());
  if (data.x.cols != genes) {
    return absl::InvalidArgumentError(absl::StrCat(x_field, ": has ", data.x.cols,
                                                   " columns but the manifest lists ", genes, " gene_names"));
  }
  GENAILAB_RETURN_IF_ERROR(data.x.CheckFinite(x_field));
  if (manifest.likelihood == kNegativeBinomialLikelihood) {
    const std::string counts_field = name + ".counts";
    GENAILAB_RETURN_IF_ERROR(data.counts.Validate(counts_field));
    if (data.counts.rows != data.x.rows || data.counts.cols != data.x.cols) {
      return absl::InvalidArgumentError(absl::StrCat(counts_field, ": is ", data.counts.rows, " x ",
                                                     data.counts.cols, " but ", x_field, " is ", data.x.rows,
                                                     " x ", data.x.cols));
    }
    GENAILAB_RETURN_IF_ERROR(data.counts.CheckFinite(counts_field));
    for (size_t i = 0; i < data.counts.values.size(); ++i) {
      if (data.counts.values[i] < 0) {
        return absl::InvalidArgumentError(absl::StrCat(counts_field, ": negative count at row ",
                                                       i / data.counts.cols, ", column ", i % data.counts.cols));
      }
    }
  }
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest, data.covariates, data.x.rows, name + ".covariates"));
  if (!data.conditions.empty() && static_cast<int64_t>(data.conditions.size()) != data.x.rows) {
    return absl::InvalidArgumentError(absl::StrCat(name, ".conditions: expected ", data.x.rows,
                                                   " values (one per row), got ", data.conditions.size()));
  }
  return absl::OkStatus();
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  const size_t middle = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + middle, values.end());
  const double upper = values[middle];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + middle);
  return 0.5 * (lower + upper);
}

std::vector<double> RowSums(const DenseMatrix& matrix) {
  std::vector<double> sums(static_cast<size_t>(matrix.rows), 0.0);
  for (int64_t row = 0; row < matrix.rows; ++row) {
    const float* values = matrix.row(row);
    for (int64_t col = 0; col < matrix.cols; ++col) sums[static_cast<size_t>(row)] += values[col];
  }
  return sums;
}

// One data set on the device, laid out for the module.
struct DeviceData {
  int64_t rows = 0;
  torch::Tensor x;             // rows x genes
  torch::Tensor target;        // x (Gaussian) or counts (NB)
  torch::Tensor covariates;    // rows x K int64, undefined for a "vae"
  torch::Tensor library_size;  // rows, undefined for Gaussian
};

torch::Tensor MatrixToTensor(const DenseMatrix& matrix, torch::Device device) {
  return torch::from_blob(const_cast<float*>(matrix.values.data()), {matrix.rows, matrix.cols}, torch::kFloat32)
      .clone()
      .to(device);
}

DeviceData ToDeviceData(const ModelManifest& manifest, const TrainingData& data, torch::Device device) {
  DeviceData result;
  result.rows = data.x.rows;
  result.x = MatrixToTensor(data.x, device);
  const bool negative_binomial = manifest.likelihood == kNegativeBinomialLikelihood;
  result.target = negative_binomial ? MatrixToTensor(data.counts, device) : result.x;
  if (negative_binomial) result.library_size = result.target.sum(1);
  if (manifest.model_type == "cvae") {
    const int64_t columns = static_cast<int64_t>(data.covariates.size());
    torch::Tensor codes = torch::empty({result.rows, columns}, torch::kInt64);
    auto accessor = codes.accessor<int64_t, 2>();
    for (int64_t k = 0; k < columns; ++k) {
      for (int64_t row = 0; row < result.rows; ++row) accessor[row][k] = data.covariates[k][row];
    }
    result.covariates = codes.to(device);
  }
  return result;
}

// Selects rows `index` (int64, on the data's device) of every defined tensor.
DeviceData Slice(const DeviceData& data, const torch::Tensor& index) {
  auto select = [&index](const torch::Tensor& tensor) {
    return tensor.defined() ? tensor.index_select(0, index) : tensor;
  };
  DeviceData batch;
  batch.rows = index.size(0);
  batch.x = select(data.x);
  batch.target = data.target.is_same(data.x) ? batch.x : select(data.target);
  batch.covariates = select(data.covariates);
  batch.library_size = select(data.library_size);
  return batch;
}

DeviceData Range(const DeviceData& data, int64_t start, int64_t end) {
  return Slice(data, torch::arange(start, end, torch::TensorOptions().dtype(torch::kInt64).device(data.x.device())));
}

// Mean per-cell loss at the posterior mean with the full KL weight, in eval mode.
double ValidationLoss(VaeModuleImpl& module, const DeviceData& data, double beta) {
  torch::NoGradGuard no_grad;
  module.eval();
  double total = 0.0;
  for (int64_t start = 0; start < data.rows; start += kEvaluationBatch) {
    const int64_t end = std::min(data.rows, start + kEvaluationBatch);
    DeviceData batch = Range(data, start, end);
    VaeLossTerms terms = module.Loss(batch.x, batch.covariates, batch.target, batch.library_size, beta,
                                     /*sample_latent=*/false);
    total += terms.loss.item<double>() * static_cast<double>(end - start);
  }
  return total / static_cast<double>(data.rows);
}

// Posterior means of the training cells averaged per condition (sorted by condition).
std::vector<LatentConditionMean> LatentConditionMeans(VaeModuleImpl& module, const DeviceData& data,
                                                      const std::vector<std::string>& conditions) {
  torch::NoGradGuard no_grad;
  module.eval();
  std::map<std::string, std::pair<std::vector<double>, int64_t>> sums;
  for (int64_t start = 0; start < data.rows; start += kEvaluationBatch) {
    const int64_t end = std::min(data.rows, start + kEvaluationBatch);
    DeviceData batch = Range(data, start, end);
    torch::Tensor mean = module.Encode(batch.x, batch.covariates).mean.to(torch::kCPU).contiguous();
    auto accessor = mean.accessor<float, 2>();
    for (int64_t row = 0; row < end - start; ++row) {
      auto& [sum, count] = sums[conditions[static_cast<size_t>(start + row)]];
      sum.resize(static_cast<size_t>(mean.size(1)), 0.0);
      for (int64_t d = 0; d < mean.size(1); ++d) sum[static_cast<size_t>(d)] += accessor[row][d];
      ++count;
    }
  }
  std::vector<LatentConditionMean> result;
  for (const auto& [condition, entry] : sums) {
    LatentConditionMean mean;
    mean.condition = condition;
    mean.n_cells = entry.second;
    for (double sum : entry.first) mean.mean.push_back(static_cast<float>(sum / static_cast<double>(entry.second)));
    result.push_back(std::move(mean));
  }
  return result;
}

void RecordHyperparameters(const VaeTrainingOptions& options, ModelManifest* manifest) {
  // Fills only what the caller did not record itself.
  auto& hyperparameters = manifest->hyperparameters;
  hyperparameters.emplace("epochs", absl::StrCat(options.epochs));
  hyperparameters.emplace("batch_size", absl::StrCat(options.batch_size));
  hyperparameters.emplace("learning_rate", absl::StrCat(options.learning_rate));
  hyperparameters.emplace("kl_warmup_epochs", absl::StrCat(options.kl_warmup_epochs));
  hyperparameters.emplace("seed", absl::StrCat(options.seed));
}

absl::StatusOr<std::unique_ptr<TrainedVae>> TrainOnDevice(
    ModelManifest manifest, const VaeModuleOptions& module_options, const TrainingData& train,
    const TrainingData& validation, const VaeTrainingOptions& options, torch::Device device,
    const std::function<void(const EpochReport&)>& on_epoch) {
  if (options.intra_op_threads > 0) torch::set_num_threads(options.intra_op_threads);
  torch::manual_seed(options.seed);
  VaeModule module(module_options);
  module->to(device);
  torch::optim::Adam optimizer(module->parameters(), torch::optim::AdamOptions(options.learning_rate));

  const DeviceData train_data = ToDeviceData(manifest, train, device);
  const bool has_validation = validation.x.rows > 0;
  DeviceData validation_data;
  if (has_validation) validation_data = ToDeviceData(manifest, validation, device);

  at::Generator shuffle_generator = at::detail::createCPUGenerator(options.seed);
  const int64_t batch_size = std::min<int64_t>(options.batch_size, train_data.rows);
  const int64_t steps = (train_data.rows + batch_size - 1) / batch_size;
  EpochReport report;
  double total_cells_per_second = 0.0;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
    module->train();
    torch::Tensor order = torch::randperm(train_data.rows, shuffle_generator, torch::kInt64).to(device);
    double loss_sum = 0.0, reconstruction_sum = 0.0, kl_sum = 0.0;
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t start = step * batch_size;
      const int64_t end = std::min(train_data.rows, start + batch_size);
      DeviceData batch = Slice(train_data, order.slice(0, start, end));
      // Linear warm-up of the KL weight, per step, from 0 to beta over kl_warmup_epochs.
      double kl_weight = manifest.beta;
      if (options.kl_warmup_epochs > 0) {
        const double progress = (epoch - 1 + static_cast<double>(step) / steps) / options.kl_warmup_epochs;
        kl_weight *= std::min(1.0, progress);
      }
      VaeLossTerms terms = module->Loss(batch.x, batch.covariates, batch.target, batch.library_size, kl_weight,
                                        /*sample_latent=*/true);
      optimizer.zero_grad();
      terms.loss.backward();
      torch::nn::utils::clip_grad_norm_(module->parameters(), kMaxGradientNorm);
      optimizer.step();
      const double cells = static_cast<double>(end - start);
      loss_sum += terms.loss.item<double>() * cells;
      reconstruction_sum += terms.reconstruction.item<double>() * cells;
      kl_sum += terms.kl.item<double>() * cells;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report.epoch = epoch;
    report.loss = loss_sum / train_data.rows;
    report.reconstruction = reconstruction_sum / train_data.rows;
    report.kl = kl_sum / train_data.rows;
    report.validation_loss = has_validation ? ValidationLoss(*module, validation_data, manifest.beta)
                                            : std::numeric_limits<double>::quiet_NaN();
    report.cells_per_second = seconds > 0 ? train_data.rows / seconds : 0.0;
    total_cells_per_second += report.cells_per_second;
    if (!std::isfinite(report.loss)) {
      return absl::InternalError(absl::StrCat("training diverged: loss is ", report.loss, " in epoch ", epoch,
                                              " (try a lower learning_rate)"));
    }
    if (on_epoch) on_epoch(report);
  }
  module->eval();

  if (!train.conditions.empty()) {
    manifest.latent_condition_means = LatentConditionMeans(*module, train_data, train.conditions);
  }
  manifest.median_library_size =
      manifest.likelihood == kNegativeBinomialLikelihood ? Median(RowSums(train.counts)) : 0.0;
  manifest.training_metrics["loss"] = report.loss;
  manifest.training_metrics["reconstruction"] = report.reconstruction;
  manifest.training_metrics["kl"] = report.kl;
  if (has_validation) manifest.training_metrics["validation_loss"] = report.validation_loss;
  manifest.training_metrics["cells_per_second"] = total_cells_per_second / options.epochs;
  manifest.training_metrics["epochs"] = options.epochs;
  RecordHyperparameters(options, &manifest);
  if (manifest.created_at.empty()) {
    manifest.created_at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  }
  if (manifest.weights_file.empty()) manifest.weights_file = "weights.pt";

  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<VaeModel> model,
                            VaeModel::Create(std::move(manifest), std::move(module), device));
  return std::unique_ptr<TrainedVae>(new TrainedVaeImpl(std::move(model)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrainedVae>> TrainVae(
    const ModelManifest& manifest, const TrainingData& train, const TrainingData& validation,
    const VaeTrainingOptions& options, const std::function<void(const EpochReport&)>& on_epoch) {
  GENAILAB_ASSIGN_OR_RETURN(VaeModuleOptions module_options, VaeModuleOptionsFromManifest(manifest));
  GENAILAB_RETURN_IF_ERROR(ValidateOptions(options));
  GENAILAB_RETURN_IF_ERROR(ValidateData(manifest, train, "train"));
  if (validation.x.rows > 0) GENAILAB_RETURN_IF_ERROR(ValidateData(manifest, validation, "validation"));
  GENAILAB_ASSIGN_OR_RETURN(torch::Device device, ResolveDevice(options.device));
  try {
    return TrainOnDevice(manifest, module_options, train, validation, options, device, on_epoch);
  } catch (const std::exception& exception) {
    return absl::InternalError(absl::StrCat("TrainVae: torch failed: ", exception.what()));
  }
}

}  // namespace genailab
