#include "models/diffusion/iterative_training.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <sstream>
#include <limits>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "models/checkpoint.h"
#include "models/checkpoint_writer.h"
#include "models/diffusion/denoiser_network.h"
#include "models/diffusion/diffusion_model.h"
#include "models/diffusion/iterative_factory.h"
#include "models/diffusion/iterative_model.h"
#include "models/diffusion/iterative_options.h"
#include "models/diffusion/noise_process.h"
#include "models/diffusion/vae_latent_space.h"
#include "models/flow/ot_pairing.h"
#include "models/vae_model.h"

namespace genailab {
namespace {

// Smallest diffusion time trained on (s(t) > 0 keeps the score finite).
constexpr double kMinDiffusionTime = 1e-3;
// PCA is fitted on at most this many cells (a random subset beyond it).
constexpr int64_t kMaxPcaCells = 20000;

// Writes the VAE of a "vae_latent" model as a checkpoint folder into an existing directory.
using VaeSaver = std::function<absl::Status(const std::string& directory, int64_t version)>;

// A trained diffusion / flow model plus Save. Thread-safe like IterativeModel (Save only reads).
class TrainedIterativeModel final : public TrainedVae {
 public:
  // save_vae: empty for representation "pca".
  TrainedIterativeModel(std::unique_ptr<IterativeModel> model, VaeSaver save_vae)
      : model_(std::move(model)), save_vae_(std::move(save_vae)) {}

  const GenerativeModel& model() const override { return *model_; }

  absl::Status Save(const std::string& directory, int64_t version) const override {
    std::string weights;
    try {
      // A CPU copy, so the file loads on any device.
      auto copy = std::dynamic_pointer_cast<DenoiserNetworkImpl>(model_->network()->clone(torch::Device(torch::kCPU)));
      std::ostringstream stream;
      torch::save(DenoiserNetwork(copy), stream);
      weights = stream.str();
    } catch (const std::exception& exception) {
      return absl::InternalError(absl::StrCat("Save: torch failed serializing weights: ", exception.what()));
    }
    if (save_vae_) {
      // The VAE goes inside the checkpoint, so that the folder is self-contained.
      const std::string vae_directory = (std::filesystem::path(directory) / kLatentVaeFolder).string();
      std::error_code error;
      std::filesystem::create_directories(vae_directory, error);
      if (error) return absl::InternalError(absl::StrCat("Save: cannot create ", vae_directory, ": ", error.message()));
      GENAILAB_RETURN_IF_ERROR(save_vae_(vae_directory, version));
    }
    return WriteCheckpointFiles(directory, version, model_->manifest(), weights);
  }

 private:
  std::unique_ptr<IterativeModel> model_;
  VaeSaver save_vae_;
};

// The VAE a "vae_latent" model samples in, and how to save it with the model.
struct LatentVae {
  std::shared_ptr<const GenerativeModel> model;
  VaeSaver save;
};

// The VAE named by vae_checkpoint (loaded; Save copies its folder), or else one trained here on the same
// cells with the manifest's VAE settings (latent_dim, hidden_dims, likelihood, beta, ...; a cvae when the
// manifest has covariates) and the same training options.
absl::StatusOr<LatentVae> ObtainVae(const ModelManifest& manifest, const IterativeModelOptions& model_options,
                                    const TrainingData& train, const TrainingData& validation,
                                    const VaeTrainingOptions& options) {
  LatentVae vae;
  if (!model_options.vae_checkpoint.empty()) {
    absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = LoadCheckpoint(model_options.vae_checkpoint, options.device);
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(), absl::StrCat("vae_checkpoint: ", loaded.status().message()));
    }
    vae.model = std::move(*loaded);
    const std::filesystem::path source(model_options.vae_checkpoint);
    const std::string weights_file = vae.model->manifest().weights_file;
    vae.save = [source, weights_file](const std::string& directory, int64_t) -> absl::Status {
      for (const std::string& name : {std::string("manifest.json"), weights_file}) {
        std::error_code error;
        std::filesystem::copy_file(source / name, std::filesystem::path(directory) / name,
                                   std::filesystem::copy_options::overwrite_existing, error);
        if (error) {
          return absl::InternalError(absl::StrCat("Save: copying ", (source / name).string(), ": ", error.message()));
        }
      }
      return absl::OkStatus();
    };
    return vae;
  }
  // The VAE's covariates (vae_covariates) and the training data with only their columns.
  std::vector<int> columns;
  if (model_options.vae_covariates == "all") {
    for (size_t k = 0; k < manifest.covariates.size(); ++k) columns.push_back(static_cast<int>(k));
  } else if (model_options.vae_covariates != "none") {
    for (absl::string_view name : absl::StrSplit(model_options.vae_covariates, ',', absl::SkipWhitespace())) {
      const int index = manifest.CovariateIndex(std::string(absl::StripAsciiWhitespace(name)));
      if (index < 0) {
        return absl::InvalidArgumentError(absl::StrCat("vae_covariates: '", name, "' is not one of the covariates"));
      }
      columns.push_back(index);
    }
  }
  ModelManifest vae_manifest;
  for (int k : columns) vae_manifest.covariates.push_back(manifest.covariates[k]);
  auto with_columns = [&columns](const TrainingData& data) {
    TrainingData subset = data;
    subset.covariates.clear();
    if (!data.covariates.empty()) {
      for (int k : columns) subset.covariates.push_back(data.covariates[k]);
    }
    return subset;
  };
  vae_manifest.name = manifest.name.empty() ? "vae" : absl::StrCat(manifest.name, "_vae");
  vae_manifest.model_type = vae_manifest.covariates.empty() ? "vae" : "cvae";
  vae_manifest.likelihood = manifest.likelihood.empty() ? "gaussian" : manifest.likelihood;
  vae_manifest.latent_dim = manifest.latent_dim;
  vae_manifest.hidden_dims = manifest.hidden_dims;
  vae_manifest.covariate_embedding_dim = manifest.covariate_embedding_dim;
  vae_manifest.dropout = manifest.dropout;
  vae_manifest.beta = manifest.beta;
  vae_manifest.gene_names = manifest.gene_names;
  vae_manifest.condition_key = manifest.condition_key;
  vae_manifest.preprocessing = manifest.preprocessing;
  vae_manifest.data_fingerprint = manifest.data_fingerprint;
  vae_manifest.created_at = manifest.created_at;
  // The run's hyperparameters without the diffusion / flow ones.
  std::map<std::string, std::string> iterative_keys;
  model_options.WriteTo(&iterative_keys);
  for (const auto& [key, value] : manifest.hyperparameters) {
    if (iterative_keys.count(key) == 0) vae_manifest.hyperparameters[key] = value;
  }
  VaeTrainingOptions vae_options = options;
  vae_options.checkpoint_path.clear();
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained =
      columns.size() == manifest.covariates.size()
          ? TrainVae(vae_manifest, train, validation, vae_options, nullptr)
          : TrainVae(vae_manifest, with_columns(train), with_columns(validation), vae_options, nullptr);
  if (!trained.ok()) {
    return absl::Status(trained.status().code(), absl::StrCat("training the latent VAE: ", trained.status().message()));
  }
  std::shared_ptr<TrainedVae> shared = std::move(*trained);
  vae.model = std::shared_ptr<const GenerativeModel>(shared, &shared->model());
  vae.save = [shared](const std::string& directory, int64_t version) { return shared->Save(directory, version); };
  return vae;
}

absl::Status ValidateData(const ModelManifest& manifest, const TrainingData& data, const std::string& name) {
  const std::string field = name + ".x";
  GENAILAB_RETURN_IF_ERROR(data.x.Validate(field));
  if (data.x.rows == 0) return absl::InvalidArgumentError(absl::StrCat(field, ": has no rows"));
  if (data.x.cols != static_cast<int64_t>(manifest.gene_names.size())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": has ", data.x.cols, " columns but the manifest lists ",
                                                   manifest.gene_names.size(), " gene_names"));
  }
  GENAILAB_RETURN_IF_ERROR(data.x.CheckFinite(field));
  if (data.covariates.empty() && !manifest.covariates.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ".covariates: the manifest lists ",
                                                   manifest.covariates.size(), " covariate(s) but none were given"));
  }
  return ValidateCovariateCodes(manifest, data.covariates, data.x.rows, name + ".covariates");
}

// Fits the PCA basis on (a subset of) x: mean, components (d x genes) and the scale that gives the
// coordinates unit average variance.
void FitProjection(const torch::Tensor& x, int64_t components, uint64_t seed, DenoiserNetworkImpl* network) {
  torch::Tensor sample = x;
  if (x.size(0) > kMaxPcaCells) {
    at::Generator generator = at::detail::createCPUGenerator(seed);
    sample = x.index_select(0, torch::randperm(x.size(0), generator, torch::kInt64).slice(0, 0, kMaxPcaCells));
  }
  torch::Tensor mean = sample.mean(0);
  torch::Tensor centered = (sample - mean).to(torch::kFloat64);
  auto [u, singular, vh] = torch::linalg_svd(centered, /*full_matrices=*/false);
  torch::Tensor basis = vh.slice(0, 0, components).to(torch::kFloat32);
  const double variance =
      singular.slice(0, 0, components).pow(2).sum().item<double>() / std::max<int64_t>(1, sample.size(0) - 1);
  const double scale = std::sqrt(std::max(variance / components, 1e-12));
  network->SetProjection(mean, basis, scale);
}

std::string ResolveControlCondition(const ModelManifest& manifest, const std::string& requested,
                                    absl::Status* status) {
  const int index = manifest.CovariateIndex(manifest.condition_key);
  if (manifest.condition_key.empty() || index < 0) return requested;
  const std::vector<std::string>& values = manifest.covariates[index].values;
  if (!requested.empty()) {
    if (std::find(values.begin(), values.end(), requested) == values.end()) {
      *status = absl::InvalidArgumentError(absl::StrCat("control_condition: \"", requested, "\" is not a value of ",
                                                        manifest.condition_key));
    }
    return requested;
  }
  if (std::find(values.begin(), values.end(), "control") != values.end()) return "control";
  return values.front();
}

// The training set in PCA coordinates with what perturbation pairing needs.
struct PreparedData {
  int64_t rows = 0;
  torch::Tensor y;      // rows x d
  torch::Tensor codes;  // rows x K int64, undefined when K = 0
  // Perturbation pairing (empty without context): each row's group (its covariates other than the
  // condition) and each group's control rows.
  std::vector<int64_t> group_of_row;
  std::vector<std::vector<int64_t>> controls_of_group;
};

// `inputs`: data.x in the network's input space (expression, or VAE latent means).
PreparedData Prepare(const ModelManifest& manifest, const TrainingData& data, const DenseMatrix& inputs,
                     DenoiserNetworkImpl& network, int condition_index, int64_t control_code) {
  PreparedData prepared;
  prepared.rows = data.x.rows;
  {
    torch::NoGradGuard no_grad;
    prepared.y = network.Project(MatrixToCpuTensor(inputs));
  }
  prepared.codes = CovariateCodesToTensor(data.covariates, data.x.rows);
  if (condition_index < 0 || data.covariates.empty()) return prepared;
  std::map<std::vector<int64_t>, int64_t> group_ids;
  for (int64_t row = 0; row < data.x.rows; ++row) {
    std::vector<int64_t> key;
    for (size_t k = 0; k < data.covariates.size(); ++k) {
      if (static_cast<int>(k) != condition_index) key.push_back(data.covariates[k][row]);
    }
    auto [it, inserted] = group_ids.emplace(key, static_cast<int64_t>(group_ids.size()));
    if (inserted) prepared.controls_of_group.emplace_back();
    prepared.group_of_row.push_back(it->second);
    if (data.covariates[condition_index][row] == control_code) prepared.controls_of_group[it->second].push_back(row);
  }
  return prepared;
}

// Returns `source` with its rows reordered so that row i is the OT partner of target row i, solving one
// exact assignment per group of rows with equal `group` labels.
torch::Tensor PairWithinGroups(const torch::Tensor& source, const torch::Tensor& target,
                               const std::vector<int64_t>& group) {
  std::map<int64_t, std::vector<int64_t>> members;
  for (size_t i = 0; i < group.size(); ++i) members[group[i]].push_back(static_cast<int64_t>(i));
  const torch::Tensor source_cpu = source.to(torch::kCPU).contiguous();
  const torch::Tensor target_cpu = target.to(torch::kCPU).contiguous();
  const int64_t dim = source.size(1);
  std::vector<int64_t> order(group.size());
  for (const auto& [label, rows] : members) {
    const int64_t n = static_cast<int64_t>(rows.size());
    torch::Tensor index = torch::tensor(rows, torch::kInt64);
    torch::Tensor s = source_cpu.index_select(0, index).contiguous();
    torch::Tensor t = target_cpu.index_select(0, index).contiguous();
    std::vector<float> s_values(s.data_ptr<float>(), s.data_ptr<float>() + n * dim);
    std::vector<float> t_values(t.data_ptr<float>(), t.data_ptr<float>() + n * dim);
    absl::StatusOr<std::vector<int64_t>> assignment =
        MinimumCostAssignment(SquaredDistanceCost(s_values, t_values, n, dim), n);
    for (int64_t i = 0; i < n; ++i) {
      // Source i goes with target assignment[i] (identity if the costs were not finite).
      const int64_t j = assignment.ok() ? (*assignment)[i] : i;
      order[rows[j]] = rows[i];
    }
  }
  return source.index_select(0, torch::tensor(order, torch::kInt64).to(source.device()));
}

// Labels rows by their full covariate codes (for OT pairing within identical conditions).
std::vector<int64_t> CodeGroups(const torch::Tensor& codes, int64_t rows) {
  std::vector<int64_t> labels(rows, 0);
  if (!codes.defined()) return labels;
  const torch::Tensor cpu = codes.to(torch::kCPU).contiguous();
  auto accessor = cpu.accessor<int64_t, 2>();
  std::map<std::vector<int64_t>, int64_t> ids;
  for (int64_t row = 0; row < rows; ++row) {
    std::vector<int64_t> key(cpu.size(1));
    for (int64_t k = 0; k < cpu.size(1); ++k) key[k] = accessor[row][k];
    labels[row] = ids.emplace(key, static_cast<int64_t>(ids.size())).first->second;
  }
  return labels;
}

class Trainer {
 public:
  Trainer(const ModelManifest& manifest, const IterativeModelOptions& options, const NoiseProcess& process,
          DenoiserNetworkImpl& network, torch::Device device, uint64_t seed)
      : diffusion_(manifest.model_type == kDiffusionModelType),
        options_(options),
        process_(process),
        network_(network),
        device_(device),
        rng_(seed) {
    for (const CovariateSpec& spec : manifest.covariates) nulls_.push_back(static_cast<int64_t>(spec.values.size()));
  }

  // The mean loss of one batch (rows `index` of `data`), with gradients.
  torch::Tensor BatchLoss(const PreparedData& data, const std::vector<int64_t>& index) {
    const int64_t rows = static_cast<int64_t>(index.size());
    torch::Tensor index_tensor = torch::tensor(index, torch::kInt64);
    torch::Tensor y = data.y.index_select(0, index_tensor).to(device_);
    torch::Tensor codes;
    if (data.codes.defined()) {
      codes = data.codes.index_select(0, index_tensor);
      torch::Tensor drop = torch::rand({rows, 1}) < options_.covariate_dropout;
      codes = torch::where(drop, torch::tensor(nulls_, torch::kInt64).reshape({1, -1}).expand_as(codes), codes);
      codes = codes.to(device_);
    }
    // Control partners (perturbation): a random control cell of the row's group, if it has one.
    const bool context = network_.options().context;
    torch::Tensor control, has_control;
    if (context) {
      std::vector<int64_t> partners(rows, 0);
      std::vector<float> present(rows, 0.0f);
      for (int64_t i = 0; i < rows; ++i) {
        const std::vector<int64_t>& pool = data.controls_of_group[data.group_of_row[index[i]]];
        if (pool.empty()) continue;
        partners[i] = pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng_)];
        present[i] = 1.0f;
      }
      control = data.y.index_select(0, torch::tensor(partners, torch::kInt64)).to(device_);
      has_control = torch::tensor(present, torch::kFloat32).reshape({rows, 1}).to(device_);
    }
    if (diffusion_) return DiffusionLoss(y, codes, control, has_control);
    return FlowLoss(y, codes, control, has_control);
  }

 private:
  torch::Tensor DiffusionLoss(const torch::Tensor& y, const torch::Tensor& codes, const torch::Tensor& control,
                              const torch::Tensor& has_control) {
    const int64_t rows = y.size(0);
    torch::Tensor t = kMinDiffusionTime + (1.0 - kMinDiffusionTime) * torch::rand({rows});
    std::vector<float> a(rows), s(rows);
    auto times = t.accessor<float, 1>();
    for (int64_t i = 0; i < rows; ++i) {
      a[i] = static_cast<float>(process_.SignalScale(times[i]));
      s[i] = static_cast<float>(process_.NoiseScale(times[i]));
    }
    torch::Tensor a_t = torch::tensor(a).reshape({rows, 1}).to(device_);
    torch::Tensor s_t = torch::tensor(s).reshape({rows, 1}).to(device_);
    torch::Tensor eps = torch::randn_like(y);
    torch::Tensor x_t = a_t * y + s_t * eps;
    torch::Tensor mask;
    if (control.defined()) {
      mask = has_control * (torch::rand({rows, 1}) >= options_.context_dropout).to(torch::kFloat32).to(device_);
    }
    torch::Tensor output = network_.forward(x_t, t.to(device_), codes, control, mask);
    torch::Tensor eps_hat = DiffusionModel::NoiseEstimate(options_.prediction, output, x_t, a_t, s_t);
    return (DiffusionModel::LossWeight(options_.prediction, a_t, s_t) * (eps_hat - eps).pow(2)).sum(1).mean();
  }

  torch::Tensor FlowTerm(const torch::Tensor& x0, const torch::Tensor& x1, const torch::Tensor& codes,
                         const torch::Tensor& context, const torch::Tensor& mask) {
    const int64_t rows = x1.size(0);
    torch::Tensor t = torch::rand({rows}).to(device_);
    torch::Tensor x_t = (1.0 - t.unsqueeze(1)) * x0 + t.unsqueeze(1) * x1;
    torch::Tensor velocity = network_.forward(x_t, t, codes, context, mask);
    return (velocity - (x1 - x0)).pow(2).sum(1);
  }

  torch::Tensor FlowLoss(const torch::Tensor& y, const torch::Tensor& codes, const torch::Tensor& control,
                         const torch::Tensor& has_control) {
    const int64_t rows = y.size(0);
    const std::vector<int64_t> groups = CodeGroups(codes, rows);
    torch::Tensor noise = torch::randn_like(y);
    if (options_.ot_pairing) noise = PairWithinGroups(noise, y, groups);
    torch::Tensor no_context, no_mask;
    if (control.defined()) {
      no_context = torch::zeros_like(y);
      no_mask = torch::zeros({rows, 1}, y.options());
    }
    torch::Tensor loss = FlowTerm(noise, y, codes, no_context, no_mask);
    if (!control.defined()) return loss.mean();
    // control -> cell, for the rows that have a control partner.
    torch::Tensor source = options_.ot_pairing ? PairWithinGroups(control, y, groups) : control;
    // Only the "from a source cell" flag is given, not the source itself (see FlowModel::SourceAsContext).
    torch::Tensor perturbation = FlowTerm(source, y, codes, no_context, torch::ones({rows, 1}, y.options()));
    return loss.mean() + (perturbation * has_control.squeeze(1)).sum() / has_control.sum().clamp_min(1.0);
  }

  const bool diffusion_;
  const IterativeModelOptions& options_;
  const NoiseProcess& process_;
  DenoiserNetworkImpl& network_;
  const torch::Device device_;
  std::vector<int64_t> nulls_;
  std::mt19937_64 rng_;
};

absl::StatusOr<std::unique_ptr<TrainedVae>> Train(ModelManifest manifest, IterativeModelOptions model_options,
                                                  const TrainingData& train, const TrainingData& validation,
                                                  const VaeTrainingOptions& options, torch::Device device,
                                                  const std::function<void(const EpochReport&)>& on_epoch) {
  if (options.intra_op_threads > 0) torch::set_num_threads(options.intra_op_threads);
  torch::manual_seed(options.seed);
  // The network's input space: expression reduced by PCA, or the latent means of a VAE (rotated to its
  // principal axes and scaled, not reduced).
  LatentVae vae;
  const DenseMatrix* train_inputs = &train.x;
  const DenseMatrix* validation_inputs = &validation.x;
  DenseMatrix train_latents, validation_latents;
  int64_t genes = static_cast<int64_t>(manifest.gene_names.size());
  int64_t components = std::min({model_options.pca_components, genes, train.x.rows});
  if (model_options.representation == kVaeLatentRepresentation) {
    GENAILAB_ASSIGN_OR_RETURN(vae, ObtainVae(manifest, model_options, train, validation, options));
    const ModelManifest& vae_manifest = vae.model->manifest();
    manifest.likelihood = vae_manifest.likelihood;
    manifest.median_library_size = vae_manifest.median_library_size;
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<VaeLatentSpace> space, VaeLatentSpace::Create(manifest, vae.model));
    GENAILAB_ASSIGN_OR_RETURN(LatentPosterior posterior, space->Encode(train.x, train.covariates));
    train_latents = std::move(posterior.mean);
    train_inputs = &train_latents;
    if (validation.x.rows > 0) {
      GENAILAB_ASSIGN_OR_RETURN(LatentPosterior held, space->Encode(validation.x, validation.covariates));
      validation_latents = std::move(held.mean);
      validation_inputs = &validation_latents;
    }
    genes = space->latent_dim();
    components = genes;
    if (train.x.rows < components) {
      return absl::InvalidArgumentError(absl::StrCat("train.x: representation vae_latent needs at least latent_dim = ",
                                                     components, " cells, got ", train.x.rows));
    }
  }
  model_options.pca_components = components;
  manifest.latent_dim = components;
  model_options.WriteTo(&manifest.hyperparameters);
  GENAILAB_ASSIGN_OR_RETURN(NoiseProcess process, NoiseProcess::Create(model_options.process));
  GENAILAB_ASSIGN_OR_RETURN(DenoiserNetworkOptions network_options, DenoiserNetworkOptionsFromManifest(manifest));

  DenoiserNetwork network(network_options);
  FitProjection(MatrixToCpuTensor(*train_inputs), components, options.seed, network.get());
  int condition_index = -1;
  int64_t control_code = -1;
  if (network_options.context) {
    condition_index = manifest.CovariateIndex(manifest.condition_key);
    const std::vector<std::string>& values = manifest.covariates[condition_index].values;
    control_code = std::find(values.begin(), values.end(), model_options.control_condition) - values.begin();
  }
  const PreparedData train_data = Prepare(manifest, train, *train_inputs, *network, condition_index, control_code);
  const bool has_validation = validation.x.rows > 0;
  PreparedData validation_data;
  if (has_validation) {
    validation_data = Prepare(manifest, validation, *validation_inputs, *network, condition_index, control_code);
  }
  network->to(device);

  Trainer trainer(manifest, model_options, process, *network, device, options.seed);
  torch::optim::Adam optimizer(network->parameters(), torch::optim::AdamOptions(options.learning_rate));
  std::mt19937_64 shuffle(options.seed);
  std::vector<int64_t> order(train_data.rows);
  for (int64_t i = 0; i < train_data.rows; ++i) order[i] = i;
  const int64_t batch_size = std::min<int64_t>(options.batch_size, train_data.rows);
  EpochReport report;
  double total_cells_per_second = 0.0;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
    network->train();
    const double learning_rate = ScheduledLearningRate(options, epoch);
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(learning_rate);
    }
    std::shuffle(order.begin(), order.end(), shuffle);
    double loss_sum = 0.0;
    for (int64_t start = 0; start < train_data.rows; start += batch_size) {
      const int64_t end = std::min(train_data.rows, start + batch_size);
      std::vector<int64_t> index(order.begin() + start, order.begin() + end);
      if (options.cancelled && options.cancelled()) {
        return absl::CancelledError(absl::StrCat("training cancelled in epoch ", epoch));
      }
      torch::Tensor loss = trainer.BatchLoss(train_data, index);
      optimizer.zero_grad();
      loss.backward();
      if (options.gradient_clip_norm > 0) {
        torch::nn::utils::clip_grad_norm_(network->parameters(), options.gradient_clip_norm);
      }
      optimizer.step();
      loss_sum += loss.item<double>() * static_cast<double>(end - start);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report.epoch = epoch;
    report.loss = loss_sum / train_data.rows;
    report.reconstruction = report.loss;
    report.kl = 0.0;
    report.learning_rate = learning_rate;
    report.validation_loss = std::numeric_limits<double>::quiet_NaN();
    if (has_validation) {
      torch::NoGradGuard no_grad;
      network->eval();
      double sum = 0.0;
      std::vector<int64_t> index;
      for (int64_t start = 0; start < validation_data.rows; start += batch_size) {
        const int64_t end = std::min(validation_data.rows, start + batch_size);
        index.clear();
        for (int64_t i = start; i < end; ++i) index.push_back(i);
        sum += trainer.BatchLoss(validation_data, index).item<double>() * static_cast<double>(end - start);
      }
      report.validation_loss = sum / validation_data.rows;
    }
    report.cells_per_second = seconds > 0 ? train_data.rows / seconds : 0.0;
    total_cells_per_second += report.cells_per_second;
    if (!std::isfinite(report.loss)) {
      return absl::InternalError(absl::StrCat("training diverged: loss is ", report.loss, " in epoch ", epoch,
                                              " (try a lower learning_rate)"));
    }
    if (on_epoch) on_epoch(report);
  }
  network->eval();
  manifest.training_metrics["loss"] = report.loss;
  if (has_validation) manifest.training_metrics["validation_loss"] = report.validation_loss;
  manifest.training_metrics["cells_per_second"] = total_cells_per_second / options.epochs;
  manifest.training_metrics["epochs"] = options.epochs;
  auto& hyperparameters = manifest.hyperparameters;
  hyperparameters.emplace("epochs", absl::StrCat(options.epochs));
  hyperparameters.emplace("batch_size", absl::StrCat(options.batch_size));
  hyperparameters.emplace("learning_rate", absl::StrCat(options.learning_rate));
  hyperparameters.emplace("seed", absl::StrCat(options.seed));
  if (manifest.created_at.empty()) {
    manifest.created_at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  }
  if (manifest.weights_file.empty()) manifest.weights_file = "weights.pt";
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<IterativeModel> model,
                            CreateIterativeModel(std::move(manifest), std::move(network), device, vae.model));
  return std::unique_ptr<TrainedVae>(new TrainedIterativeModel(std::move(model), std::move(vae.save)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrainedVae>> TrainIterativeModel(
    const ModelManifest& manifest, const TrainingData& train, const TrainingData& validation,
    const VaeTrainingOptions& options, const std::function<void(const EpochReport&)>& on_epoch) {
  GENAILAB_ASSIGN_OR_RETURN(IterativeModelOptions model_options,
                            IterativeModelOptions::FromHyperparameters(manifest.hyperparameters, manifest.model_type));
  GENAILAB_RETURN_IF_ERROR(ValidateVaeTrainingOptions(options));
  if (options.distributed.world_size > 1) {
    return absl::InvalidArgumentError(absl::StrCat("distributed.world_size: ", manifest.model_type,
                                                   " models train in one process only"));
  }
  if (!options.checkpoint_path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint_path: ", manifest.model_type, " training cannot checkpoint and resume yet"));
  }
  if (options.mixed_precision) {
    return absl::InvalidArgumentError(
        absl::StrCat("mixed_precision: ", manifest.model_type, " training has no autocast path (VAEs only)"));
  }
  if (options.early_stopping_patience > 0) {
    return absl::InvalidArgumentError(absl::StrCat("early_stopping_patience: ", manifest.model_type,
                                                   " training has no early stopping yet (VAEs only); set 0"));
  }
  GENAILAB_RETURN_IF_ERROR(ValidateData(manifest, train, "train"));
  if (validation.x.rows > 0) GENAILAB_RETURN_IF_ERROR(ValidateData(manifest, validation, "validation"));
  absl::Status control_status;
  model_options.control_condition = ResolveControlCondition(manifest, model_options.control_condition, &control_status);
  GENAILAB_RETURN_IF_ERROR(control_status);
  GENAILAB_ASSIGN_OR_RETURN(torch::Device device, ResolveDevice(options.device));
  try {
    return Train(manifest, std::move(model_options), train, validation, options, device, on_epoch);
  } catch (const std::exception& exception) {
    return absl::InternalError(absl::StrCat("TrainIterativeModel: torch failed: ", exception.what()));
  }
}

}  // namespace genailab
