#include "models/perturbation_method_codec.h"

namespace genailab {

v1::PerturbationMethod PerturbationMethodToProto(PerturbationMethod method) {
  switch (method) {
    case PerturbationMethod::kLatentArithmetic:
      return v1::PERTURBATION_METHOD_LATENT_ARITHMETIC;
    case PerturbationMethod::kCounterfactual:
      return v1::PERTURBATION_METHOD_COUNTERFACTUAL;
    case PerturbationMethod::kDefault:
      break;
  }
  return v1::PERTURBATION_METHOD_DEFAULT;
}

PerturbationMethod PerturbationMethodFromProto(v1::PerturbationMethod method) {
  switch (method) {
    case v1::PERTURBATION_METHOD_LATENT_ARITHMETIC:
      return PerturbationMethod::kLatentArithmetic;
    case v1::PERTURBATION_METHOD_COUNTERFACTUAL:
      return PerturbationMethod::kCounterfactual;
    default:
      return PerturbationMethod::kDefault;
  }
}

}  // namespace genailab
