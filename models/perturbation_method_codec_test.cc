#include "models/perturbation_method_codec.h"

#include <gtest/gtest.h>

namespace genailab {
namespace {

TEST(PerturbationMethodCodecTest, RoundTripsEveryMethod) {
  for (PerturbationMethod method : {PerturbationMethod::kDefault, PerturbationMethod::kLatentArithmetic,
                                    PerturbationMethod::kCounterfactual}) {
    EXPECT_EQ(PerturbationMethodFromProto(PerturbationMethodToProto(method)), method);
  }
  EXPECT_EQ(PerturbationMethodToProto(PerturbationMethod::kCounterfactual),
            v1::PERTURBATION_METHOD_COUNTERFACTUAL);
  EXPECT_EQ(PerturbationMethodFromProto(static_cast<v1::PerturbationMethod>(42)), PerturbationMethod::kDefault);
}

}  // namespace
}  // namespace genailab
