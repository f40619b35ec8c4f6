// KlSchedule: the weight of the KL term over training for a beta-VAE (beta = the weight it reaches).
// Torch-free, pure: KlWeight(schedule, t) depends only on its arguments. Thread-safe.
//   "linear"     beta * min(1, t / warmup_epochs)                        (warmup_epochs 0 = beta throughout)
//   "cyclical"   (Fu et al., 2019) each cycle of cycle_epochs ramps linearly from 0 to beta over its
//                first ramp_fraction, then holds beta: beta * min(1, frac(t / cycle_epochs) / ramp_fraction)
//   "sigmoid"    beta / (1 + exp(-steepness * (t / warmup_epochs - 1/2))): beta/2 halfway through the
//                warm-up, 1 / (1 + e^(-steepness/2)) of beta at its end (0.993 at the default steepness)
//   "constant"   beta
// t is the (fractional) number of epochs completed, so a schedule can be stepped per minibatch.
#ifndef GENAILAB_MODELS_KL_SCHEDULE_H_
#define GENAILAB_MODELS_KL_SCHEDULE_H_

#include <string>

#include "absl/status/status.h"

namespace genailab {

struct KlSchedule {
  std::string kind = "linear";  // "linear", "cyclical", "sigmoid" or "constant"
  double beta = 1.0;            // the KL weight reached (manifest.beta)
  double warmup_epochs = 10.0;  // linear and sigmoid
  double cycle_epochs = 10.0;   // cyclical: length of one cycle
  double ramp_fraction = 0.5;   // cyclical: share of each cycle spent ramping up, in (0, 1]
  double steepness = 10.0;      // sigmoid
};

// INVALID_ARGUMENT naming the field: unknown kind, beta < 0, warmup_epochs < 0, cycle_epochs <= 0 or
// ramp_fraction outside (0, 1] for "cyclical", steepness <= 0 or warmup_epochs == 0 for "sigmoid".
absl::Status ValidateKlSchedule(const KlSchedule& schedule);

// The KL weight after `epochs_completed` epochs (>= 0) of a schedule that ValidateKlSchedule accepts.
double KlWeight(const KlSchedule& schedule, double epochs_completed);

}  // namespace genailab

#endif  // GENAILAB_MODELS_KL_SCHEDULE_H_
