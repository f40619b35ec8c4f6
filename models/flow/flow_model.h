// Models-internal (includes torch): FlowModel, a conditional flow-matching model in PCA space served as a
// GenerativeModel (model_type "flow_matching").
//
// The network predicts the velocity v(x, t) of the straight (optimal-transport) path
// x_t = (1 - t) x_0 + t x_1, t in [0, 1]. Generation flows from x_0 ~ N(0, I) to cells; perturbation
// prediction flows from the source (control) cells to the target condition (the network is told that the
// flow starts from cells, not noise). Samplers on the grid t_k = k / steps: "euler" (one evaluation per step) and
// "heun" (two). Classifier-free guidance mixes conditional and null-covariate velocities.
// Thread-safety as IterativeModel.
#ifndef GENAILAB_MODELS_FLOW_FLOW_MODEL_H_
#define GENAILAB_MODELS_FLOW_FLOW_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "models/diffusion/iterative_model.h"

namespace genailab {

class FlowModel final : public IterativeModel {
 public:
  // `network` must be built from DenoiserNetworkOptionsFromManifest(manifest) and already be on `device`.
  // INVALID_ARGUMENT for a manifest whose model_type is not "flow_matching" or whose options are malformed.
  static absl::StatusOr<std::unique_ptr<FlowModel>> Create(ModelManifest manifest, DenoiserNetwork network,
                                                           torch::Device device);

  std::vector<std::string> Samplers() const override;

 protected:
  torch::Tensor InitialState(int64_t rows, const torch::Tensor& source, bool perturbation,
                             at::Generator& generator) const override;
  bool SourceAsContext() const override { return false; }
  double CurrentTime(const IterativeSession& session) const override;
  void FirstStage(IterativeSession& session, const torch::Tensor& output) const override;
  void SecondStage(IterativeSession& session, const torch::Tensor& output) const override;

 private:
  FlowModel(ModelManifest manifest, IterativeModelOptions options, DenoiserNetwork network, torch::Device device);
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_FLOW_FLOW_MODEL_H_
