#include "models/flow/flow_model.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {

absl::StatusOr<std::unique_ptr<FlowModel>> FlowModel::Create(ModelManifest manifest, DenoiserNetwork network,
                                                            torch::Device device) {
  if (manifest.model_type != kFlowMatchingModelType) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_type: expected \"flow_matching\", got \"", manifest.model_type, "\""));
  }
  GENAILAB_ASSIGN_OR_RETURN(IterativeModelOptions options,
                            IterativeModelOptions::FromHyperparameters(manifest.hyperparameters, manifest.model_type));
  return std::unique_ptr<FlowModel>(new FlowModel(std::move(manifest), std::move(options), std::move(network), device));
}

FlowModel::FlowModel(ModelManifest manifest, IterativeModelOptions options, DenoiserNetwork network,
                     torch::Device device)
    : IterativeModel(std::move(manifest), std::move(options), std::move(network), device) {}

std::vector<std::string> FlowModel::Samplers() const { return {"euler", "heun"}; }

double FlowModel::CurrentTime(const IterativeSession& session) const {
  return static_cast<double>(session.step) / session.steps;
}

torch::Tensor FlowModel::InitialState(int64_t rows, const torch::Tensor& source, bool perturbation,
                                      at::Generator& generator) const {
  if (perturbation) return source.clone();
  return torch::randn({rows, network()->options().data_dim}, generator, torch::kFloat32).to(device());
}

void FlowModel::FirstStage(IterativeSession& session, const torch::Tensor& velocity) const {
  const double dt = 1.0 / session.steps;
  torch::Tensor euler = session.x + dt * velocity;
  if (session.sampler == "euler") {
    session.x = euler;
    ++session.step;
    return;
  }
  session.saved_output = velocity;
  session.pending = true;
  session.pending_x = euler;
  session.pending_t = static_cast<double>(session.step + 1) / session.steps;
}

void FlowModel::SecondStage(IterativeSession& session, const torch::Tensor& velocity) const {
  const double dt = 1.0 / session.steps;
  session.x = session.x + 0.5 * dt * (session.saved_output + velocity);
  session.saved_output = torch::Tensor();
  ++session.step;
}

}  // namespace genailab
