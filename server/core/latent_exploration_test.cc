#include "server/core/latent_exploration.h"

#include <cstdlib>
#include <filesystem>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/matrix_codec.h"
#include "data/status_matchers.h"
#include "server/testing/fake_generative_model.h"

namespace genailab {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// The fake model, plus DecodeMixed consistent with its Decode: out[i][j] = z[i][0] + j + the expected
// code of the first covariate under row i's weights (sum_c c * w[i][c]), + library_size[i] when given.
class MixingFakeModel : public FakeGenerativeModel {
 public:
  using FakeGenerativeModel::FakeGenerativeModel;
  absl::StatusOr<DenseMatrix> DecodeMixed(const DenseMatrix& z, const CovariateWeights& weights,
                                          const std::vector<float>& library_size) const override {
    const int64_t genes = static_cast<int64_t>(manifest().gene_names.size());
    DenseMatrix out(z.rows, genes);
    for (int64_t i = 0; i < z.rows; ++i) {
      float code = 0.0f;
      if (!weights.empty()) {
        for (int64_t c = 0; c < weights[0].cols; ++c) code += static_cast<float>(c) * weights[0].at(i, c);
      }
      for (int64_t j = 0; j < genes; ++j) {
        out.at(i, j) = z.at(i, 0) + static_cast<float>(j) + code +
                       (library_size.empty() ? 0.0f : library_size[static_cast<size_t>(i)]);
      }
    }
    return out;
  }
};

ModelLoader MixingLoader() {
  return [](const std::string& directory, const std::string& device)
             -> absl::StatusOr<std::unique_ptr<GenerativeModel>> {
    absl::StatusOr<std::unique_ptr<GenerativeModel>> fake = FakeModelLoader()(directory, device);
    if (!fake.ok()) return fake.status();
    return std::unique_ptr<GenerativeModel>(new MixingFakeModel((*fake)->manifest()));
  };
}

v1::Matrix Latents(const std::vector<std::vector<float>>& rows) {
  DenseMatrix m(static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) m.at(i, j) = rows[i][j];
  }
  v1::Matrix proto;
  MatrixToProto(m, {}, /*sparse=*/false, &proto);
  return proto;
}

std::vector<float> Values(const v1::Matrix& proto) {
  absl::StatusOr<DenseMatrix> m = MatrixFromProto(proto, "test");
  EXPECT_THAT(m, IsOk());
  return m->values;
}

class LatentExplorerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = FreshTestRepository();
    WriteFakeVersion(root_.string(), FakeManifest("plain", 1));
    WriteFakeVersion(root_.string(), FakeConditionalManifest("cond", 1));
    ModelManager::Options options;
    options.repository_root = root_.string();
    options.loader = MixingLoader();
    auto manager = ModelManager::Create(options);
    ASSERT_THAT(manager, IsOk());
    manager_ = std::move(manager).value();
    ASSERT_THAT(manager_->LoadNewest(), IsOk());
    auto explorer = LatentExplorer::Create(manager_.get(), {.max_steps = 20});
    ASSERT_THAT(explorer, IsOk());
    explorer_ = std::move(explorer).value();
  }

  fs::path root_;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<LatentExplorer> explorer_;
};

TEST_F(LatentExplorerTest, CreateValidatesArguments) {
  EXPECT_THAT(LatentExplorer::Create(nullptr), StatusIs(kInvalid, HasSubstr("ModelManager")));
  EXPECT_THAT(LatentExplorer::Create(manager_.get(), {.max_steps = 1}), StatusIs(kInvalid, HasSubstr("max_steps")));
}

TEST_F(LatentExplorerTest, LatentPathDecodesTheStraightLine) {
  v1::InterpolateRequest request;
  request.mutable_model()->set_name("plain");
  request.set_steps(5);
  *request.mutable_latent_path()->mutable_endpoints() = Latents({{0, 0}, {4, 1}});
  auto response = explorer_->Interpolate(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->model().version(), 1);
  EXPECT_THAT(response->fractions(), ElementsAre(0.0f, 0.25f, 0.5f, 0.75f, 1.0f));
  EXPECT_THAT(Values(response->latents()),
              Pointwise(FloatNear(1e-6), std::vector<float>{0, 0, 1, 0.25, 2, 0.5, 3, 0.75, 4, 1}));
  // The fake decodes z0 + gene index.
  EXPECT_THAT(Values(response->expression()),
              Pointwise(FloatNear(1e-6), std::vector<float>{0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6}));
  EXPECT_EQ(response->expression().column_names(0), "g0");
  EXPECT_EQ(response->latents().column_names(1), "z1");
}

TEST_F(LatentExplorerTest, CovariatePathBlendsTheEmbeddings) {
  v1::InterpolateRequest request;
  request.mutable_model()->set_name("cond");
  request.set_steps(3);
  (*request.mutable_covariates())["condition"] = "stim";
  v1::CovariatePath* path = request.mutable_covariate_path();
  path->set_covariate("cell_type");
  path->set_from_value("A");
  path->set_to_value("B");
  *path->mutable_latent() = Latents({{1, 0}});
  auto response = explorer_->Interpolate(request);
  ASSERT_THAT(response, IsOk());
  // The first covariate's expected code goes 0 -> 0.5 -> 1 along the path: out = 1 + j + t.
  EXPECT_THAT(Values(response->expression()),
              Pointwise(FloatNear(1e-6), std::vector<float>{1, 2, 3, 1.5, 2.5, 3.5, 2, 3, 4}));
  EXPECT_THAT(Values(response->latents()), Pointwise(FloatNear(1e-6), std::vector<float>{1, 0, 1, 0, 1, 0}));
}

TEST_F(LatentExplorerTest, InterpolateRejectsBadRequests) {
  v1::InterpolateRequest request;
  request.mutable_model()->set_name("cond");
  request.set_steps(3);
  EXPECT_THAT(explorer_->Interpolate(request), StatusIs(kInvalid, HasSubstr("set latent_path or covariate_path")));
  request.mutable_covariate_path()->set_covariate("batch");
  EXPECT_THAT(explorer_->Interpolate(request), StatusIs(kInvalid, HasSubstr("not conditioned on 'batch'")));
  request.mutable_covariate_path()->set_covariate("cell_type");
  request.mutable_covariate_path()->set_from_value("A");
  request.mutable_covariate_path()->set_to_value("Z");
  EXPECT_THAT(explorer_->Interpolate(request), StatusIs(kInvalid, HasSubstr("covariate_path.to_value")));
  request.set_steps(21);
  EXPECT_THAT(explorer_->Interpolate(request), StatusIs(kInvalid, HasSubstr("steps: must be in [2, 20], got 21")));
  request.set_steps(3);
  *request.mutable_latent_path()->mutable_endpoints() = Latents({{0, 0, 0}, {1, 1, 1}});
  EXPECT_THAT(explorer_->Interpolate(request), StatusIs(kInvalid, HasSubstr("endpoints: must be 2 x 2")));
  request.mutable_model()->set_name("missing");
  EXPECT_THAT(explorer_->Interpolate(request), StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
}

TEST_F(LatentExplorerTest, TraverseLatentVariesOneAxis) {
  v1::TraverseLatentRequest request;
  request.mutable_model()->set_name("cond");
  request.set_axis(0);
  request.set_steps(3);
  (*request.mutable_covariates())["cell_type"] = "B";
  (*request.mutable_covariates())["condition"] = "ctrl";
  request.set_library_size(10.0f);
  *request.mutable_latent() = Latents({{5, 7}});
  auto response = explorer_->TraverseLatent(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_THAT(response->values(), ElementsAre(-3.0f, 0.0f, 3.0f));  // the default range
  EXPECT_THAT(Values(response->latents()), Pointwise(FloatNear(1e-6), std::vector<float>{-3, 7, 0, 7, 3, 7}));
  // z0 + j + cell_type code (B = 1) + library size.
  EXPECT_THAT(Values(response->expression()),
              Pointwise(FloatNear(1e-6), std::vector<float>{8, 9, 10, 11, 12, 13, 14, 15, 16}));
}

TEST_F(LatentExplorerTest, TraverseLatentRejectsBadRequests) {
  v1::TraverseLatentRequest request;
  request.mutable_model()->set_name("plain");
  request.set_steps(3);
  request.set_axis(2);
  EXPECT_THAT(explorer_->TraverseLatent(request), StatusIs(kInvalid, HasSubstr("axis: must be in [0, 2), got 2")));
  request.set_axis(0);
  *request.mutable_latent() = Latents({{1, 2, 3}});
  EXPECT_THAT(explorer_->TraverseLatent(request), StatusIs(kInvalid, HasSubstr("latent: must be 1 x 2")));
  request.clear_latent();
  request.set_library_size(-1.0f);
  EXPECT_THAT(explorer_->TraverseLatent(request), StatusIs(kInvalid, HasSubstr("library_size")));
  v1::TraverseLatentRequest conditional;
  conditional.mutable_model()->set_name("cond");
  conditional.set_steps(2);
  EXPECT_THAT(explorer_->TraverseLatent(conditional), StatusIs(kInvalid, HasSubstr("cell_type")));
}

}  // namespace
}  // namespace genailab
