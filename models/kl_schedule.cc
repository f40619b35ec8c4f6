#include "models/kl_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace genailab {

absl::Status ValidateKlSchedule(const KlSchedule& schedule) {
  const std::string& kind = schedule.kind;
  if (kind != "linear" && kind != "cyclical" && kind != "sigmoid" && kind != "constant") {
    return absl::InvalidArgumentError(absl::StrCat(
        "kl_schedule: must be \"linear\", \"cyclical\", \"sigmoid\" or \"constant\", got \"", kind, "\""));
  }
  if (!(schedule.beta >= 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat("beta: must be >= 0, got ", schedule.beta));
  }
  if (!(schedule.warmup_epochs >= 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat("kl_warmup_epochs: must be >= 0, got ", schedule.warmup_epochs));
  }
  if (kind == "cyclical") {
    if (!(schedule.cycle_epochs > 0.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kl_cycle_epochs: must be > 0 for a cyclical schedule, got ", schedule.cycle_epochs));
    }
    if (!(schedule.ramp_fraction > 0.0 && schedule.ramp_fraction <= 1.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kl_ramp_fraction: must be in (0, 1], got ", schedule.ramp_fraction));
    }
  }
  if (kind == "sigmoid") {
    if (!(schedule.warmup_epochs > 0.0)) {
      return absl::InvalidArgumentError("kl_warmup_epochs: must be > 0 for a sigmoid schedule");
    }
    if (!(schedule.steepness > 0.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kl_steepness: must be > 0, got ", schedule.steepness));
    }
  }
  return absl::OkStatus();
}

double KlWeight(const KlSchedule& schedule, double epochs_completed) {
  const double t = std::max(0.0, epochs_completed);
  if (schedule.kind == "linear") {
    if (schedule.warmup_epochs <= 0.0) return schedule.beta;
    return schedule.beta * std::min(1.0, t / schedule.warmup_epochs);
  }
  if (schedule.kind == "cyclical") {
    const double cycles = t / schedule.cycle_epochs;
    const double position = cycles - std::floor(cycles);
    return schedule.beta * std::min(1.0, position / schedule.ramp_fraction);
  }
  if (schedule.kind == "sigmoid") {
    return schedule.beta / (1.0 + std::exp(-schedule.steepness * (t / schedule.warmup_epochs - 0.5)));
  }
  return schedule.beta;
}

}  // namespace genailab
