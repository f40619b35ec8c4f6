// The one mapping between the API's genailab.v1.PerturbationMethod and the models layer's
// PerturbationMethod, used by the server (requests in, responses out) and the client (requests out).
#ifndef GENAILAB_MODELS_PERTURBATION_METHOD_CODEC_H_
#define GENAILAB_MODELS_PERTURBATION_METHOD_CODEC_H_

#include "genailab/v1/generative_service.pb.h"
#include "models/generative_model.h"

namespace genailab {

v1::PerturbationMethod PerturbationMethodToProto(PerturbationMethod method);
// PERTURBATION_METHOD_DEFAULT and unknown values give kDefault (the model decides).
PerturbationMethod PerturbationMethodFromProto(v1::PerturbationMethod method);

}  // namespace genailab

#endif  // GENAILAB_MODELS_PERTURBATION_METHOD_CODEC_H_
