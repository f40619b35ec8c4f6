#include "server/core/latent_exploration.h"

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "data/matrix_codec.h"
#include "models/interpolation.h"
#include "server/core/covariate_resolver.h"

namespace genailab {
namespace {

std::vector<std::string> LatentColumnNames(int64_t latent_dim) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < latent_dim; ++i) names.push_back(absl::StrCat("z", i));
  return names;
}

// The row of `proto` (expected 1 x latent_dim) as a vector; the origin when the matrix is unset.
absl::StatusOr<std::vector<float>> LatentPoint(const v1::Matrix& proto, bool is_set, int64_t latent_dim,
                                               const std::string& field) {
  if (!is_set) return std::vector<float>(static_cast<size_t>(latent_dim), 0.0f);
  GENAILAB_ASSIGN_OR_RETURN(DenseMatrix point, MatrixFromProto(proto, field));
  if (point.rows != 1 || point.cols != latent_dim) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be 1 x ", latent_dim, " (latent_dim), got ",
                                                   point.rows, " x ", point.cols));
  }
  GENAILAB_RETURN_IF_ERROR(point.CheckFinite(field));
  return point.values;
}

// One code per network covariate for every point, from the request's name -> value map.
// `optional` (may be empty) names a covariate that may be missing (it is then set to code 0).
absl::StatusOr<std::vector<int64_t>> PointCodes(const std::vector<CovariateSpec>& specs,
                                                const google::protobuf::Map<std::string, std::string>& proto,
                                                const std::string& optional) {
  std::map<std::string, std::string> values(proto.begin(), proto.end());
  for (const CovariateSpec& spec : specs) {
    if (spec.name == optional && values.find(spec.name) == values.end()) values[spec.name] = spec.values.front();
  }
  return ResolveCovariateValues(specs, values, "covariates");
}

CovariateCodes Repeat(const std::vector<int64_t>& codes, int64_t rows) {
  CovariateCodes columns;
  for (int64_t code : codes) columns.emplace_back(static_cast<size_t>(rows), code);
  return columns;
}

// Library sizes for `rows` points: empty (the model's median) when the request says 0.
absl::StatusOr<std::vector<float>> LibrarySizes(float library_size, int64_t rows) {
  if (library_size == 0.0f) return std::vector<float>();
  if (!(library_size > 0.0f) || !std::isfinite(library_size)) {
    return absl::InvalidArgumentError(absl::StrCat("library_size: must be > 0 (or 0 = median), got ", library_size));
  }
  return std::vector<float>(static_cast<size_t>(rows), library_size);
}

void FillOutputs(const ServableModel& servable, const DenseMatrix& latents, const DenseMatrix& expression,
                 v1::ModelSpec* spec, v1::Matrix* latents_proto, v1::Matrix* expression_proto) {
  const ModelManifest& manifest = servable.model->manifest();
  spec->set_name(servable.name);
  spec->set_version(servable.version);
  MatrixToProto(latents, LatentColumnNames(manifest.latent_dim), /*sparse=*/false, latents_proto);
  MatrixToProto(expression, manifest.gene_names, /*sparse=*/false, expression_proto);
}

absl::Status CheckDecoded(const DenseMatrix& expression, int64_t rows, const ModelManifest& manifest) {
  if (expression.rows != rows || expression.cols != static_cast<int64_t>(manifest.gene_names.size())) {
    return absl::InternalError(absl::StrCat("model decoded ", expression.rows, " x ", expression.cols,
                                            "; expected ", rows, " x ", manifest.gene_names.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LatentExplorer>> LatentExplorer::Create(ModelManager* manager, Options options) {
  if (manager == nullptr) return absl::InvalidArgumentError("LatentExplorer needs a ModelManager");
  if (options.max_steps < 2) {
    return absl::InvalidArgumentError(absl::StrCat("max_steps must be >= 2, got ", options.max_steps));
  }
  return std::unique_ptr<LatentExplorer>(new LatentExplorer(manager, options));
}

absl::StatusOr<std::shared_ptr<const ServableModel>> LatentExplorer::Resolve(const v1::ModelSpec& spec) const {
  if (spec.name().empty()) return absl::InvalidArgumentError("model.name is required");
  if (spec.version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.version must be 0 (newest) or positive, got ", spec.version()));
  }
  return manager_->Get(spec.name(), spec.version());
}

absl::Status LatentExplorer::CheckSteps(int steps) const {
  if (steps < 2 || steps > options_.max_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps: must be in [2, ", options_.max_steps, "], got ", steps));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::InterpolateResponse> LatentExplorer::Interpolate(const v1::InterpolateRequest& request) const {
  GENAILAB_ASSIGN_OR_RETURN(const auto servable, Resolve(request.model()));
  GENAILAB_RETURN_IF_ERROR(CheckSteps(request.steps()));
  const GenerativeModel& model = *servable->model;
  const ModelManifest& manifest = model.manifest();
  const std::vector<CovariateSpec>& specs = NetworkCovariates(manifest);
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<double> fractions, EvenlySpaced(0.0, 1.0, request.steps()));
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<float> library, LibrarySizes(request.library_size(), request.steps()));
  DenseMatrix latents, expression;
  switch (request.path_case()) {
    case v1::InterpolateRequest::kLatentPath: {
      GENAILAB_ASSIGN_OR_RETURN(DenseMatrix endpoints,
                                MatrixFromProto(request.latent_path().endpoints(), "latent_path.endpoints"));
      if (endpoints.rows != 2 || endpoints.cols != manifest.latent_dim) {
        return absl::InvalidArgumentError(absl::StrCat("latent_path.endpoints: must be 2 x ", manifest.latent_dim,
                                                       " (latent_dim), got ", endpoints.rows, " x ", endpoints.cols));
      }
      GENAILAB_RETURN_IF_ERROR(endpoints.CheckFinite("latent_path.endpoints"));
      const std::vector<float> from(endpoints.row(0), endpoints.row(0) + endpoints.cols);
      const std::vector<float> to(endpoints.row(1), endpoints.row(1) + endpoints.cols);
      GENAILAB_ASSIGN_OR_RETURN(latents, LinearPath(from, to, fractions));
      GENAILAB_ASSIGN_OR_RETURN(const std::vector<int64_t> codes, PointCodes(specs, request.covariates(), ""));
      GENAILAB_ASSIGN_OR_RETURN(expression, model.Decode(latents, Repeat(codes, latents.rows), library));
      break;
    }
    case v1::InterpolateRequest::kCovariatePath: {
      const v1::CovariatePath& path = request.covariate_path();
      int64_t blended = -1;
      for (size_t k = 0; k < specs.size(); ++k) {
        if (specs[k].name == path.covariate()) blended = static_cast<int64_t>(k);
      }
      if (blended < 0) {
        return absl::InvalidArgumentError(absl::StrCat("covariate_path.covariate: the model is not conditioned on '",
                                                       path.covariate(), "'"));
      }
      const CovariateSpec& spec = specs[static_cast<size_t>(blended)];
      GENAILAB_ASSIGN_OR_RETURN(const int64_t from_code,
                                CovariateCode(spec, path.from_value(), "covariate_path.from_value"));
      GENAILAB_ASSIGN_OR_RETURN(const int64_t to_code, CovariateCode(spec, path.to_value(), "covariate_path.to_value"));
      GENAILAB_ASSIGN_OR_RETURN(const std::vector<float> point,
                                LatentPoint(path.latent(), path.has_latent(), manifest.latent_dim,
                                            "covariate_path.latent"));
      GENAILAB_ASSIGN_OR_RETURN(latents, LinearPath(point, point, fractions));
      GENAILAB_ASSIGN_OR_RETURN(std::vector<int64_t> codes, PointCodes(specs, request.covariates(), spec.name));
      codes[static_cast<size_t>(blended)] = from_code;
      std::vector<int64_t> cardinalities;
      for (const CovariateSpec& each : specs) cardinalities.push_back(static_cast<int64_t>(each.values.size()));
      GENAILAB_ASSIGN_OR_RETURN(const CovariateWeights weights,
                                CovariateBlend(cardinalities, codes, blended, to_code, fractions));
      GENAILAB_ASSIGN_OR_RETURN(expression, model.DecodeMixed(latents, weights, library));
      break;
    }
    default:
      return absl::InvalidArgumentError("path: set latent_path or covariate_path");
  }
  GENAILAB_RETURN_IF_ERROR(CheckDecoded(expression, latents.rows, manifest));
  v1::InterpolateResponse response;
  FillOutputs(*servable, latents, expression, response.mutable_model(), response.mutable_latents(),
              response.mutable_expression());
  for (double t : fractions) response.add_fractions(static_cast<float>(t));
  return response;
}

absl::StatusOr<v1::TraverseLatentResponse> LatentExplorer::TraverseLatent(
    const v1::TraverseLatentRequest& request) const {
  GENAILAB_ASSIGN_OR_RETURN(const auto servable, Resolve(request.model()));
  GENAILAB_RETURN_IF_ERROR(CheckSteps(request.steps()));
  const GenerativeModel& model = *servable->model;
  const ModelManifest& manifest = model.manifest();
  const bool default_range = request.start() == 0.0f && request.end() == 0.0f;
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<double> values,
                            EvenlySpaced(default_range ? -3.0 : request.start(), default_range ? 3.0 : request.end(),
                                         request.steps()));
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<float> base,
                            LatentPoint(request.latent(), request.has_latent(), manifest.latent_dim, "latent"));
  GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix latents, AxisTraversal(base, request.axis(), values));
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<int64_t> codes,
                            PointCodes(NetworkCovariates(manifest), request.covariates(), ""));
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<float> library, LibrarySizes(request.library_size(), latents.rows));
  GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix expression, model.Decode(latents, Repeat(codes, latents.rows), library));
  GENAILAB_RETURN_IF_ERROR(CheckDecoded(expression, latents.rows, manifest));
  v1::TraverseLatentResponse response;
  FillOutputs(*servable, latents, expression, response.mutable_model(), response.mutable_latents(),
              response.mutable_expression());
  for (double value : values) response.add_values(static_cast<float>(value));
  return response;
}

}  // namespace genailab
