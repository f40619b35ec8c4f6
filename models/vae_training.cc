#include "models/vae_training.h"

#include <ATen/autocast_mode.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
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
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "models/checkpoint.h"
#include "models/checkpoint_writer.h"
#include "models/data_parallel_group.h"
#include "models/kl_schedule.h"
#include "models/vae_model.h"
#include "models/vae_module.h"

namespace genailab {
namespace {

KlSchedule TrainingKlSchedule(const VaeTrainingOptions& options, double beta) {
  KlSchedule schedule;
  schedule.kind = options.kl_schedule;
  schedule.beta = beta;
  schedule.warmup_epochs = options.kl_warmup_epochs;
  schedule.cycle_epochs = options.kl_cycle_epochs;
  return schedule;
}

// Rows per forward pass when evaluating (validation loss, latent means).
constexpr int64_t kEvaluationBatch = 4096;

// The model right after training: a VaeModel plus the ability to write itself as a checkpoint.
// Thread-safe like VaeModel (Save only reads the module).
class TrainedVaeImpl final : public TrainedVae {
 public:
  explicit TrainedVaeImpl(std::unique_ptr<VaeModel> model) : model_(std::move(model)) {}

  const GenerativeModel& model() const override { return *model_; }

  absl::Status Save(const std::string& directory, int64_t version) const override {
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
    return WriteCheckpointFiles(directory, version, model_->manifest(), weights);
  }

 private:
  std::unique_ptr<VaeModel> model_;
};

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
  hyperparameters.emplace("kl_schedule", options.kl_schedule);
  hyperparameters.emplace("seed", absl::StrCat(options.seed));
}

// splitmix64: decorrelates the seeds derived from (seed, epoch, step, shard).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Every random draw of training (minibatch order, dropout masks, latent noise) comes from a generator
// seeded by a pure function of (seed, epoch, step, shard). A resumed run therefore needs no generator
// state beyond the seed and the epoch, and a shard of a global batch sees the same randomness whether one
// process or one rank of many trains on it.
uint64_t DerivedSeed(uint64_t seed, int64_t epoch, int64_t step, int64_t shard) {
  return Mix(Mix(Mix(Mix(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(step)) ^
             static_cast<uint64_t>(shard));
}

// The training state a checkpoint holds besides the module and the optimizer.
struct LoopState {
  int completed_epochs = 0;
  double best_validation_loss = std::numeric_limits<double>::infinity();
  int epochs_without_improvement = 0;
  double cells_per_second_sum = 0.0;
  // Early stopping: the epoch that last improved the validation loss (0 = none yet), a copy of the
  // module's parameters and buffers after it (restored at the end of training), and its training losses.
  int best_epoch = 0;
  std::vector<torch::Tensor> best_weights;
  double best_loss = 0.0;
  double best_reconstruction = 0.0;
  double best_kl = 0.0;
};

// Every parameter, then every buffer of `module`, copied.
std::vector<torch::Tensor> CopyWeights(VaeModuleImpl& module) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> copies;
  for (const torch::Tensor& parameter : module.parameters()) copies.push_back(parameter.detach().clone());
  for (const torch::Tensor& buffer : module.buffers()) copies.push_back(buffer.detach().clone());
  return copies;
}

// The inverse of CopyWeights. INTERNAL if `weights` does not fit the module.
absl::Status RestoreWeights(VaeModuleImpl& module, const std::vector<torch::Tensor>& weights) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> targets = module.parameters();
  for (const torch::Tensor& buffer : module.buffers()) targets.push_back(buffer);
  if (targets.size() != weights.size()) {
    return absl::InternalError(absl::StrCat("best weights hold ", weights.size(), " tensors, the module has ",
                                            targets.size()));
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!targets[i].sizes().equals(weights[i].sizes())) {
      return absl::InternalError(absl::StrCat("best weight ", i, " has the wrong shape"));
    }
    targets[i].copy_(weights[i]);
  }
  return absl::OkStatus();
}

// The checkpoint path of this rank: ranks other than 0 append ".rank<N>".
std::string RankCheckpointPath(const VaeTrainingOptions& options) {
  if (options.distributed.world_size <= 1 || options.distributed.rank == 0) return options.checkpoint_path;
  return absl::StrCat(options.checkpoint_path, ".rank", options.distributed.rank);
}

torch::Tensor ScalarTensor(double value) { return torch::tensor({value}, torch::kFloat64); }

// Writes module, optimizer and loop state to `path` atomically (temporary file, fsync, rename).
absl::Status SaveTrainingCheckpoint(const std::string& path, VaeModuleImpl& module,
                                    torch::optim::Optimizer& optimizer, const LoopState& state,
                                    const VaeTrainingOptions& options) {
  std::ostringstream stream;
  {
    torch::serialize::OutputArchive archive;
    torch::serialize::OutputArchive module_archive;
    module.save(module_archive);
    archive.write("module", module_archive);
    torch::serialize::OutputArchive optimizer_archive;
    optimizer.save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
    archive.write("completed_epochs", ScalarTensor(state.completed_epochs));
    archive.write("best_validation_loss", ScalarTensor(state.best_validation_loss));
    archive.write("epochs_without_improvement", ScalarTensor(state.epochs_without_improvement));
    archive.write("cells_per_second_sum", ScalarTensor(state.cells_per_second_sum));
    // Early stopping's best weights, so that a resumed run restores the same ones.
    archive.write("best_epoch", ScalarTensor(state.best_epoch));
    if (state.best_epoch > 0) {
      archive.write("best_loss", ScalarTensor(state.best_loss));
      archive.write("best_reconstruction", ScalarTensor(state.best_reconstruction));
      archive.write("best_kl", ScalarTensor(state.best_kl));
      torch::serialize::OutputArchive best_archive;
      for (size_t i = 0; i < state.best_weights.size(); ++i) {
        best_archive.write(absl::StrCat("w", i), state.best_weights[i]);
      }
      archive.write("best_weights", best_archive);
    }
    // The generators' state: every draw derives from the seed and the epoch (see DerivedSeed).
    archive.write("seed", torch::tensor({static_cast<int64_t>(options.seed)}, torch::kInt64));
    archive.save_to(stream);
  }
  const std::string temporary = path + ".tmp";
  GENAILAB_RETURN_IF_ERROR(WriteFileSynced(temporary, stream.str()));
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Loads a checkpoint written by SaveTrainingCheckpoint into module and optimizer. FAILED_PRECONDITION if it
// was written for another architecture or seed.
absl::StatusOr<LoopState> LoadTrainingCheckpoint(const std::string& path, VaeModuleImpl& module,
                                                 torch::optim::Optimizer& optimizer,
                                                 const VaeTrainingOptions& options, torch::Device device) {
  LoopState state;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, device);
    auto read_scalar = [&archive](const char* key) {
      torch::Tensor value;
      archive.read(key, value);
      return value.to(torch::kCPU).to(torch::kFloat64).item<double>();
    };
    torch::Tensor seed_tensor;
    archive.read("seed", seed_tensor);
    const auto seed = static_cast<uint64_t>(seed_tensor.to(torch::kCPU).item<int64_t>());
    if (seed != options.seed) {
      return absl::FailedPreconditionError(absl::StrCat("checkpoint_path ", path, " was written with seed ",
                                                        seed, ", this run uses ", options.seed));
    }
    torch::serialize::InputArchive module_archive;
    archive.read("module", module_archive);
    module.load(module_archive);
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
    state.completed_epochs = static_cast<int>(read_scalar("completed_epochs"));
    state.best_validation_loss = read_scalar("best_validation_loss");
    state.epochs_without_improvement = static_cast<int>(read_scalar("epochs_without_improvement"));
    state.cells_per_second_sum = read_scalar("cells_per_second_sum");
    // Checkpoints written before best weights were kept have no "best_epoch": such a run ends with the
    // weights of its last epoch, as it would have then.
    torch::Tensor best_epoch;
    if (archive.try_read("best_epoch", best_epoch)) {
      state.best_epoch = static_cast<int>(best_epoch.to(torch::kCPU).to(torch::kFloat64).item<double>());
    }
    if (state.best_epoch > 0) {
      state.best_loss = read_scalar("best_loss");
      state.best_reconstruction = read_scalar("best_reconstruction");
      state.best_kl = read_scalar("best_kl");
      torch::serialize::InputArchive best_archive;
      archive.read("best_weights", best_archive);
      const size_t count = CopyWeights(module).size();
      for (size_t i = 0; i < count; ++i) {
        torch::Tensor weight;
        best_archive.read(absl::StrCat("w", i), weight);
        state.best_weights.push_back(weight.to(device));
      }
    }
  } catch (const std::exception& exception) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint_path ", path,
                                                      " does not hold a training state of this model: ",
                                                      exception.what()));
  }
  if (state.completed_epochs < 0 || state.completed_epochs > options.epochs) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint_path ", path, " records epoch ",
                                                      state.completed_epochs, " of a run of ", options.epochs));
  }
  return state;
}

void SetLearningRate(torch::optim::Adam& optimizer, double learning_rate) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(learning_rate);
  }
}

// Every parameter's gradient, created as zeros where a shard did not touch it (so ranks allreduce the
// same tensors).
std::vector<torch::Tensor> Gradients(VaeModuleImpl& module) {
  std::vector<torch::Tensor> gradients;
  for (torch::Tensor& parameter : module.parameters()) {
    if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
    gradients.push_back(parameter.grad());
  }
  return gradients;
}

// Sums of per-cell loss terms over the cells of an epoch.
struct LossSums {
  double loss = 0.0;
  double reconstruction = 0.0;
  double kl = 0.0;
};

absl::StatusOr<std::unique_ptr<TrainedVae>> TrainOnDevice(
    ModelManifest manifest, const VaeModuleOptions& module_options, const TrainingData& train,
    const TrainingData& validation, const VaeTrainingOptions& options, torch::Device device,
    const std::function<void(const EpochReport&)>& on_epoch) {
  if (options.intra_op_threads > 0) torch::set_num_threads(options.intra_op_threads);
  std::unique_ptr<DataParallelGroup> group;
  if (options.distributed.world_size > 1) {
    GENAILAB_ASSIGN_OR_RETURN(group, DataParallelGroup::Join(options.distributed, device));
  }
  const int64_t world_size = group ? group->world_size() : 1;
  const int64_t rank = group ? group->rank() : 0;
  const int64_t shards = options.batch_shards > 0 ? options.batch_shards : world_size;

  torch::manual_seed(options.seed);
  VaeModule module(module_options);
  module->to(device);
  torch::optim::Adam optimizer(module->parameters(), torch::optim::AdamOptions(options.learning_rate));

  const DeviceData train_data = ToDeviceData(manifest, train, device);
  const bool has_validation = validation.x.rows > 0;
  DeviceData validation_data;
  if (has_validation) validation_data = ToDeviceData(manifest, validation, device);

  LoopState state;
  int resumed_from_epoch = 0;
  const std::string checkpoint_path = RankCheckpointPath(options);
  if (!checkpoint_path.empty() && std::filesystem::exists(checkpoint_path)) {
    GENAILAB_ASSIGN_OR_RETURN(state,
                              LoadTrainingCheckpoint(checkpoint_path, *module, optimizer, options, device));
    resumed_from_epoch = state.completed_epochs;
  }

  const bool mixed_precision = options.mixed_precision && device.is_cuda();
  const int64_t batch_size = std::min<int64_t>(options.batch_size, train_data.rows);
  const int64_t steps = (train_data.rows + batch_size - 1) / batch_size;
  EpochReport report;
  report.resumed_from_epoch = resumed_from_epoch;
  int epoch = state.completed_epochs;
  bool stopped_early = false;
  while (epoch < options.epochs && !stopped_early) {
    ++epoch;
    const auto started = std::chrono::steady_clock::now();
    const double learning_rate = ScheduledLearningRate(options, epoch);
    SetLearningRate(optimizer, learning_rate);
    module->train();
    at::Generator shuffle_generator = at::detail::createCPUGenerator(DerivedSeed(options.seed, epoch, -1, 0));
    torch::Tensor order = torch::randperm(train_data.rows, shuffle_generator, torch::kInt64).to(device);
    LossSums sums;
    for (int64_t step = 0; step < steps; ++step) {
      if (options.cancelled && options.cancelled()) {
        return absl::CancelledError(absl::StrCat("training cancelled in epoch ", epoch));
      }
      const int64_t start = step * batch_size;
      const int64_t end = std::min(train_data.rows, start + batch_size);
      const int64_t rows = end - start;
      // The KL weight follows the schedule per step, from 0 towards beta.
      const double kl_weight =
          KlWeight(TrainingKlSchedule(options, manifest.beta), epoch - 1 + static_cast<double>(step) / steps);
      optimizer.zero_grad();
      // The global batch is split into `shards`; this rank computes shards rank, rank + world_size, ...
      // Each shard's mean loss is weighted by its share of the batch, so the summed gradient is the
      // batch mean's.
      for (int64_t shard = rank; shard < shards; shard += world_size) {
        const int64_t shard_start = start + rows * shard / shards;
        const int64_t shard_end = start + rows * (shard + 1) / shards;
        if (shard_end <= shard_start) continue;
        torch::manual_seed(DerivedSeed(options.seed, epoch, step, shard));
        DeviceData batch = Slice(train_data, order.slice(0, shard_start, shard_end));
        VaeLossTerms terms;
        {
          // CUDA autocast (bfloat16) for the forward pass only; backward runs in the parameters' dtype.
          if (mixed_precision) {
            at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
            at::autocast::set_enabled(true);
          }
          terms = module->Loss(batch.x, batch.covariates, batch.target, batch.library_size, kl_weight,
                               /*sample_latent=*/true);
          if (mixed_precision) {
            at::autocast::set_enabled(false);
            at::autocast::clear_cache();
          }
        }
        const double shard_rows = static_cast<double>(shard_end - shard_start);
        (terms.loss.to(torch::kFloat32) * (shard_rows / static_cast<double>(rows))).backward();
        sums.loss += terms.loss.item<double>() * shard_rows;
        sums.reconstruction += terms.reconstruction.item<double>() * shard_rows;
        sums.kl += terms.kl.item<double>() * shard_rows;
      }
      if (group) group->SumInPlace(Gradients(*module));
      if (options.gradient_clip_norm > 0) {
        torch::nn::utils::clip_grad_norm_(module->parameters(), options.gradient_clip_norm);
      }
      optimizer.step();
    }
    if (group) {
      torch::Tensor totals = torch::tensor({sums.loss, sums.reconstruction, sums.kl}, torch::kFloat64);
      group->SumInPlace({totals});
      sums = {totals[0].item<double>(), totals[1].item<double>(), totals[2].item<double>()};
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report.epoch = epoch;
    report.loss = sums.loss / train_data.rows;
    report.reconstruction = sums.reconstruction / train_data.rows;
    report.kl = sums.kl / train_data.rows;
    report.validation_loss = has_validation ? ValidationLoss(*module, validation_data, manifest.beta)
                                            : std::numeric_limits<double>::quiet_NaN();
    report.cells_per_second = seconds > 0 ? train_data.rows / seconds : 0.0;
    report.learning_rate = learning_rate;
    state.cells_per_second_sum += report.cells_per_second;
    if (!std::isfinite(report.loss)) {
      return absl::InternalError(absl::StrCat("training diverged: loss is ", report.loss, " in epoch ", epoch,
                                              " (try a lower learning_rate)"));
    }
    if (options.early_stopping_patience > 0 && has_validation) {
      if (report.validation_loss < state.best_validation_loss - options.early_stopping_min_delta) {
        state.best_validation_loss = report.validation_loss;
        state.epochs_without_improvement = 0;
        state.best_epoch = epoch;
        state.best_weights = CopyWeights(*module);
        state.best_loss = report.loss;
        state.best_reconstruction = report.reconstruction;
        state.best_kl = report.kl;
      } else if (++state.epochs_without_improvement >= options.early_stopping_patience) {
        stopped_early = true;
      }
    }
    report.stopped_early = stopped_early;
    state.completed_epochs = epoch;
    if (!checkpoint_path.empty() &&
        (epoch % options.checkpoint_every_epochs == 0 || epoch == options.epochs || stopped_early)) {
      GENAILAB_RETURN_IF_ERROR(SaveTrainingCheckpoint(checkpoint_path, *module, optimizer, state, options));
    }
    if (on_epoch) on_epoch(report);
  }
  // Early stopping keeps the weights of its best epoch, not those of the epochs that failed to improve.
  const bool restore_best = options.early_stopping_patience > 0 && has_validation && state.best_epoch > 0;
  if (restore_best && state.best_epoch != state.completed_epochs) {
    GENAILAB_RETURN_IF_ERROR(RestoreWeights(*module, state.best_weights));
  }
  module->eval();

  if (!train.conditions.empty()) {
    manifest.latent_condition_means = LatentConditionMeans(*module, train_data, train.conditions);
  }
  manifest.median_library_size =
      manifest.likelihood == kNegativeBinomialLikelihood ? Median(RowSums(train.counts)) : 0.0;
  const int epochs_run = state.completed_epochs;
  // The losses describe the weights that are kept: the best epoch's under early stopping, the last one's
  // otherwise. The validation loss is measured again on the kept weights.
  manifest.training_metrics["loss"] = restore_best ? state.best_loss : report.loss;
  manifest.training_metrics["reconstruction"] = restore_best ? state.best_reconstruction : report.reconstruction;
  manifest.training_metrics["kl"] = restore_best ? state.best_kl : report.kl;
  if (has_validation) {
    manifest.training_metrics["validation_loss"] =
        epochs_run > 0 ? ValidationLoss(*module, validation_data, manifest.beta) : report.validation_loss;
  }
  if (restore_best) manifest.training_metrics["best_epoch"] = state.best_epoch;
  manifest.training_metrics["cells_per_second"] = epochs_run > 0 ? state.cells_per_second_sum / epochs_run : 0.0;
  manifest.training_metrics["epochs"] = epochs_run;
  manifest.training_metrics["stopped_early"] = stopped_early ? 1.0 : 0.0;
  manifest.training_metrics["resumed_from_epoch"] = resumed_from_epoch;
  manifest.training_metrics["world_size"] = static_cast<double>(world_size);
  if (options.iwae_samples > 0) {
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<VaeModel> scoring_model, VaeModel::Create(manifest, module, device));
    const TrainingData& scored = has_validation ? validation : train;
    LikelihoodBoundOptions bound_options;
    bound_options.samples = options.iwae_samples;
    bound_options.seed = options.seed;
    GENAILAB_ASSIGN_OR_RETURN(LikelihoodBounds bounds,
                              scoring_model->EstimateLikelihoodBounds(scored.x, scored.counts, scored.covariates,
                                                                      bound_options));
    manifest.training_metrics[absl::StrCat("iwae_bound_k", options.iwae_samples)] = bounds.iwae;
    manifest.training_metrics[absl::StrCat("elbo_k", options.iwae_samples)] = bounds.elbo;
  }
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

absl::StatusOr<DistributedOptions> DistributedOptionsFromEnvironment() {
  DistributedOptions options;
  auto read_int = [](const char* name, int minimum, int maximum, int* out) -> absl::Status {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return absl::OkStatus();
    int parsed = 0;
    if (!absl::SimpleAtoi(value, &parsed) || parsed < minimum || parsed > maximum) {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, "='", value,
                                                     "' is not an integer in [", minimum, ", ", maximum, "]"));
    }
    *out = parsed;
    return absl::OkStatus();
  };
  GENAILAB_RETURN_IF_ERROR(read_int("WORLD_SIZE", 1, 1 << 20, &options.world_size));
  GENAILAB_RETURN_IF_ERROR(read_int("RANK", 0, options.world_size - 1, &options.rank));
  GENAILAB_RETURN_IF_ERROR(read_int("MASTER_PORT", 1, 65535, &options.master_port));
  if (const char* address = std::getenv("MASTER_ADDR"); address != nullptr && *address != '\0') {
    options.master_addr = address;
  }
  return options;
}

double ScheduledLearningRate(const VaeTrainingOptions& options, int epoch) {
  if (options.lr_schedule == "cosine") {
    const double progress = options.epochs > 1 ? static_cast<double>(epoch - 1) / options.epochs : 0.0;
    return options.min_learning_rate +
           (options.learning_rate - options.min_learning_rate) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  if (options.lr_schedule == "step") {
    return options.learning_rate * std::pow(options.lr_step_gamma, (epoch - 1) / options.lr_step_epochs);
  }
  return options.learning_rate;
}

absl::Status ValidateVaeTrainingOptions(const VaeTrainingOptions& options) {
  if (options.epochs < 1) return absl::InvalidArgumentError(absl::StrCat("epochs must be >= 1, got ", options.epochs));
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be >= 1, got ", options.batch_size));
  }
  if (!(options.learning_rate > 0) || !std::isfinite(options.learning_rate)) {
    return absl::InvalidArgumentError(absl::StrCat("learning_rate must be > 0, got ", options.learning_rate));
  }
  if (options.lr_schedule != "constant" && options.lr_schedule != "cosine" && options.lr_schedule != "step") {
    return absl::InvalidArgumentError(
        absl::StrCat("lr_schedule '", options.lr_schedule, "' is not one of: constant, cosine, step"));
  }
  if (!(options.min_learning_rate >= 0) || options.min_learning_rate > options.learning_rate) {
    return absl::InvalidArgumentError(absl::StrCat("min_learning_rate must be in [0, learning_rate], got ",
                                                   options.min_learning_rate));
  }
  if (options.lr_step_epochs < 1) {
    return absl::InvalidArgumentError(absl::StrCat("lr_step_epochs must be >= 1, got ", options.lr_step_epochs));
  }
  if (!(options.lr_step_gamma > 0 && options.lr_step_gamma <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("lr_step_gamma must be in (0, 1], got ", options.lr_step_gamma));
  }
  if (options.kl_warmup_epochs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kl_warmup_epochs must be >= 0, got ", options.kl_warmup_epochs));
  }
  GENAILAB_RETURN_IF_ERROR(ValidateKlSchedule(TrainingKlSchedule(options, /*beta=*/0.0)));
  if (options.iwae_samples < 0) {
    return absl::InvalidArgumentError(absl::StrCat("iwae_samples must be >= 0 (0 = off), got ", options.iwae_samples));
  }
  if (!(options.gradient_clip_norm >= 0) || !std::isfinite(options.gradient_clip_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient_clip_norm must be >= 0 (0 = off), got ", options.gradient_clip_norm));
  }
  if (options.early_stopping_patience < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("early_stopping_patience must be >= 0 (0 = off), got ", options.early_stopping_patience));
  }
  if (!(options.early_stopping_min_delta >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("early_stopping_min_delta must be >= 0, got ", options.early_stopping_min_delta));
  }
  if (options.intra_op_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("intra_op_threads must be >= 0, got ", options.intra_op_threads));
  }
  if (options.checkpoint_every_epochs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint_every_epochs must be >= 1, got ", options.checkpoint_every_epochs));
  }
  if (options.distributed.world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("distributed.world_size must be >= 1, got ", options.distributed.world_size));
  }
  if (options.distributed.rank < 0 || options.distributed.rank >= options.distributed.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("distributed.rank must be in [0, world_size), got ",
                                                   options.distributed.rank));
  }
  if (options.batch_shards < 0 || options.batch_shards % options.distributed.world_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("batch_shards must be 0 or a multiple of world_size (",
                                                   options.distributed.world_size, "), got ",
                                                   options.batch_shards));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TrainedVae>> TrainVae(
    const ModelManifest& manifest, const TrainingData& train, const TrainingData& validation,
    const VaeTrainingOptions& options, const std::function<void(const EpochReport&)>& on_epoch) {
  GENAILAB_ASSIGN_OR_RETURN(VaeModuleOptions module_options, VaeModuleOptionsFromManifest(manifest));
  GENAILAB_RETURN_IF_ERROR(ValidateVaeTrainingOptions(options));
  GENAILAB_RETURN_IF_ERROR(ValidateData(manifest, train, "train"));
  if (validation.x.rows > 0) GENAILAB_RETURN_IF_ERROR(ValidateData(manifest, validation, "validation"));
  GENAILAB_ASSIGN_OR_RETURN(torch::Device device, ResolveDevice(options.device));
  if (options.mixed_precision && !device.is_cuda()) {
    return absl::InvalidArgumentError(absl::StrCat("mixed_precision: bfloat16 autocast runs on CUDA only, but device \"",
                                                   options.device, "\" is ", device.str()));
  }
  try {
    return TrainOnDevice(manifest, module_options, train, validation, options, device, on_epoch);
  } catch (const std::exception& exception) {
    return absl::InternalError(absl::StrCat("TrainVae: torch failed: ", exception.what()));
  }
}

}  // namespace genailab
