#include "client/cli.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "data/csv_io.h"
#include "data/h5ad_io.h"

namespace genailab {
namespace {

constexpr char kLatentMeanKey[] = "X_genailab";
constexpr char kLatentVarianceKey[] = "X_genailab_var";

bool IsModelCommand(const std::string& command) {
  return command == "info" || command == "generate" || command == "encode" || command == "predict" ||
         command == "interpolate" || command == "traverse";
}

bool HasExpressionFileExtension(const std::string& path) {
  for (const char* extension : {".h5ad", ".csv", ".tsv", ".txt"}) {
    if (absl::EndsWith(path, extension)) return true;
  }
  return false;
}

void PrintError(const absl::Status& status, std::ostream& err) {
  err << "genailab: " << absl::StatusCodeToString(status.code()) << ": " << status.message() << "\n";
}

// "a, b, c" with at most `limit` items and a count of the rest.
std::string JoinAbbreviated(const google::protobuf::RepeatedPtrField<std::string>& items, int limit) {
  std::vector<std::string> shown(items.begin(), items.begin() + std::min(items.size(), limit));
  std::string joined = absl::StrJoin(shown, ", ");
  if (items.size() > limit) absl::StrAppend(&joined, ", ... (", items.size() - limit, " more)");
  return joined;
}

std::string CovariateNames(const v1::ModelInfo& info) {
  std::vector<std::string> names;
  for (const v1::CovariateInfo& covariate : info.covariates()) names.push_back(covariate.name());
  return names.empty() ? "-" : absl::StrJoin(names, ",");
}

void PrintModelTable(const std::vector<v1::ModelInfo>& models, std::ostream& out) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "VERSION", "TYPE", "LIKELIHOOD", "GENES", "LATENT", "COVARIATES"}};
  for (const v1::ModelInfo& info : models) {
    rows.push_back({info.name(), absl::StrCat(info.version()), info.model_type(), info.likelihood(),
                    absl::StrCat(info.gene_names_size()), absl::StrCat(info.latent_dim()),
                    CovariateNames(info)});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      absl::StrAppend(&line, c == 0 ? "" : "  ",
                      c + 1 == row.size() ? row[c] : absl::StrFormat("%-*s", widths[c], row[c]));
    }
    out << line << "\n";
  }
  if (models.empty()) out << "(no models loaded)\n";
}

void PrintModelInfo(const v1::ModelInfo& info, std::ostream& out) {
  out << "name:             " << info.name() << "\n";
  out << "version:          " << info.version() << "\n";
  out << "loaded versions:  " << absl::StrJoin(info.loaded_versions(), ", ") << "\n";
  out << "model type:       " << info.model_type() << "\n";
  out << "likelihood:       " << info.likelihood() << "\n";
  out << "input space:      " << info.input_space() << "\n";
  out << "output space:     " << info.output_space() << "\n";
  out << "latent dim:       " << info.latent_dim() << "\n";
  out << "genes:            " << info.gene_names_size() << " (" << JoinAbbreviated(info.gene_names(), 20)
      << ")\n";
  out << "covariates:";
  if (info.covariates().empty()) out << "       none";
  out << "\n";
  for (const v1::CovariateInfo& covariate : info.covariates()) {
    out << "  " << covariate.name() << " (" << covariate.values_size()
        << "): " << JoinAbbreviated(covariate.values(), 50) << "\n";
  }
  out << "condition key:    " << (info.condition_key().empty() ? "-" : info.condition_key()) << "\n";
  out << "conditions:       " << absl::StrJoin(info.conditions(), ", ") << "\n";
  out << "supported RPCs:   " << absl::StrJoin(info.supported_rpcs(), ", ") << "\n";
  out << "training metrics:";
  if (info.training_metrics().empty()) out << " none";
  out << "\n";
  // Sorted: the proto map has no stable order.
  std::map<std::string, double> metrics(info.training_metrics().begin(), info.training_metrics().end());
  for (const auto& [name, value] : metrics) out << "  " << name << ": " << value << "\n";
  out << "hyperparameters:  " << info.hyperparameters_json() << "\n";
  out << "data fingerprint: " << info.data_fingerprint() << "\n";
  out << "created at:       " << info.created_at() << "\n";
}

GeneMatchingOptions GeneMatchingFrom(const CliOptions& options) {
  GeneMatchingOptions matching;
  matching.zero_fill_missing = options.zero_fill_missing;
  matching.ignore_unknown = options.ignore_unknown_genes;
  return matching;
}

absl::StatusOr<AnnData> ReadInputCells(const CliOptions& options) {
  GENAILAB_ASSIGN_OR_RETURN(AnnData cells, ReadExpressionFile(options.in, options.layer));
  return FilterCells(cells, options.filter);
}

absl::Status WriteEmbedding(const std::string& path, AnnData cells, EncodeResult latent) {
  if (absl::EndsWith(path, ".h5ad")) {
    cells.obsm[kLatentMeanKey] = std::move(latent.mean);
    cells.obsm[kLatentVarianceKey] = std::move(latent.variance);
    return WriteH5ad(path, cells);
  }
  AnnData table;
  table.obs_names = std::move(cells.obs_names);
  for (int64_t i = 0; i < latent.mean.cols; ++i) table.var_names.push_back(absl::StrCat("z", i));
  table.x = std::move(latent.mean);
  return WriteCsv(path, table);
}

// "a,b,c" -> floats; INVALID_ARGUMENT naming `flag`.
absl::StatusOr<std::vector<float>> ParseFloats(const std::string& text, const std::string& flag) {
  std::vector<float> values;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    float value = 0.0f;
    if (!absl::SimpleAtof(absl::StripAsciiWhitespace(part), &value)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", part, "' is not a number"));
    }
    values.push_back(value);
  }
  return values;
}

// The single --covariates group of interpolate / traverse.
absl::StatusOr<std::map<std::string, std::string>> PointCovariates(const CliOptions& options) {
  GENAILAB_ASSIGN_OR_RETURN(std::vector<CellGroup> groups, ParseCellGroups(options.covariates, options.steps));
  if (groups.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.command, ": --covariates takes one group (no ';'), got ", groups.size()));
  }
  return groups[0].covariates;
}

// "covariate=FROM:TO" -> {covariate, FROM, TO}.
absl::StatusOr<std::vector<std::string>> ParseBlend(const std::string& blend) {
  std::vector<std::string> parts = absl::StrSplit(blend, absl::MaxSplits('=', 1));
  if (parts.size() == 2) {
    std::vector<std::string> values = absl::StrSplit(parts[1], absl::MaxSplits(':', 1));
    if (values.size() == 2 && !parts[0].empty() && !values[0].empty() && !values[1].empty()) {
      return std::vector<std::string>{parts[0], values[0], values[1]};
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("--blend: '", blend, "' is not covariate=FROM:TO"));
}

// The latent means of the two cells of --in named by --cells.
absl::StatusOr<EncodeResult> EncodeEndpointCells(const CliOptions& options, const GenailabClient& client,
                                                 const ModelRef& model) {
  GENAILAB_ASSIGN_OR_RETURN(AnnData cells, ReadInputCells(options));
  const std::vector<std::string> names = absl::StrSplit(options.cells, ',');
  std::vector<int64_t> rows;
  for (const std::string& name : names) {
    const auto it = std::find(cells.obs_names.begin(), cells.obs_names.end(), name);
    if (it == cells.obs_names.end()) {
      return absl::NotFoundError(absl::StrCat("--cells: no cell named '", name, "' in ", options.in));
    }
    rows.push_back(it - cells.obs_names.begin());
  }
  return client.Encode(model, cells.SelectCells(rows), options.covariate_keys, GeneMatchingFrom(options));
}

// The decoded path as cells "point_0".."point_{n-1}" with obs_numeric "position" and obsm "X_latent".
absl::Status WritePath(const std::string& path, LatentPathResult result, std::ostream& out) {
  AnnData cells;
  cells.x = std::move(result.expression);
  cells.var_names = std::move(result.gene_names);
  std::vector<double> positions(result.positions.begin(), result.positions.end());
  for (int64_t i = 0; i < cells.x.rows; ++i) cells.obs_names.push_back(absl::StrCat("point_", i));
  cells.obs_numeric["position"] = std::move(positions);
  cells.obsm["X_latent"] = std::move(result.latents);
  GENAILAB_RETURN_IF_ERROR(WriteExpressionFile(path, cells));
  out << "wrote " << cells.n_obs() << " points x " << cells.n_vars() << " genes to " << path << "\n";
  return absl::OkStatus();
}

absl::Status RunPathCommand(const CliOptions& options, const GenailabClient& client, const ModelRef& model,
                            std::ostream& out) {
  GENAILAB_ASSIGN_OR_RETURN(const auto covariates, PointCovariates(options));
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<float> latent, ParseFloats(options.latent, "latent"));
  if (options.command == "traverse") {
    float start = 0.0f, end = 0.0f;
    if (!options.range.empty()) {
      GENAILAB_ASSIGN_OR_RETURN(const std::vector<float> range,
                                ParseFloats(absl::StrReplaceAll(options.range, {{":", ","}}), "range"));
      if (range.size() != 2) return absl::InvalidArgumentError("--range: must be START:END");
      start = range[0];
      end = range[1];
    }
    GENAILAB_ASSIGN_OR_RETURN(LatentPathResult result, client.TraverseLatent(model, options.axis, start, end,
                                                                             options.steps, latent, covariates,
                                                                             options.library_size));
    return WritePath(options.out, std::move(result), out);
  }
  if (!options.blend.empty()) {
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string> blend, ParseBlend(options.blend));
    GENAILAB_ASSIGN_OR_RETURN(LatentPathResult result,
                              client.InterpolateCovariate(model, blend[0], blend[1], blend[2], options.steps, latent,
                                                          covariates, options.library_size));
    return WritePath(options.out, std::move(result), out);
  }
  GENAILAB_ASSIGN_OR_RETURN(EncodeResult endpoints, EncodeEndpointCells(options, client, model));
  const float* from = endpoints.mean.row(0);
  const float* to = endpoints.mean.row(1);
  GENAILAB_ASSIGN_OR_RETURN(
      LatentPathResult result,
      client.InterpolateLatents(model, std::vector<float>(from, from + endpoints.mean.cols),
                                std::vector<float>(to, to + endpoints.mean.cols), options.steps, covariates,
                                options.library_size));
  return WritePath(options.out, std::move(result), out);
}

absl::Status RunCommand(const CliOptions& options, const GenailabClient& client, std::ostream& out) {
  const ModelRef model{options.model, options.version};
  if (options.command == "list") {
    GENAILAB_ASSIGN_OR_RETURN(std::vector<v1::ModelInfo> models, client.ListModels());
    PrintModelTable(models, out);
    return absl::OkStatus();
  }
  if (options.command == "info") {
    GENAILAB_ASSIGN_OR_RETURN(v1::ModelInfo info, client.GetModel(options.model, options.version));
    PrintModelInfo(info, out);
    return absl::OkStatus();
  }
  if (options.command == "generate") {
    GENAILAB_ASSIGN_OR_RETURN(std::vector<CellGroup> groups,
                              ParseCellGroups(options.covariates, options.n));
    GENAILAB_ASSIGN_OR_RETURN(AnnData cells, client.Generate(model, groups, options.seed, options.library_size,
                                                             options.sample_counts, options.sampler));
    GENAILAB_RETURN_IF_ERROR(WriteExpressionFile(options.out, cells));
    out << "wrote " << cells.n_obs() << " cells x " << cells.n_vars() << " genes to " << options.out
        << "\n";
    return absl::OkStatus();
  }
  if (options.command == "encode") {
    GENAILAB_ASSIGN_OR_RETURN(AnnData cells, ReadInputCells(options));
    GENAILAB_ASSIGN_OR_RETURN(
        EncodeResult latent,
        client.Encode(model, cells, options.covariate_keys, GeneMatchingFrom(options)));
    const int64_t latent_dim = latent.mean.cols;
    GENAILAB_RETURN_IF_ERROR(WriteEmbedding(options.out, std::move(cells), std::move(latent)));
    out << "wrote a " << latent_dim << "-dimensional embedding of " << options.out << "\n";
    return absl::OkStatus();
  }
  if (options.command == "interpolate" || options.command == "traverse") {
    return RunPathCommand(options, client, model, out);
  }
  // predict (ValidateCliOptions admits no other command).
  GENAILAB_ASSIGN_OR_RETURN(PerturbationMethod method, ParsePerturbationMethod(options.method));
  GENAILAB_ASSIGN_OR_RETURN(AnnData cells, ReadInputCells(options));
  GENAILAB_ASSIGN_OR_RETURN(
      AnnData predicted,
      client.PredictPerturbation(model, cells, options.covariate_keys, options.source, options.target,
                                 method, GeneMatchingFrom(options), options.sampler, options.seed));
  GENAILAB_RETURN_IF_ERROR(WriteExpressionFile(options.out, predicted));
  out << "wrote " << predicted.n_obs() << " predicted cells x " << predicted.n_vars() << " genes to "
      << options.out << "\n";
  return absl::OkStatus();
}

}  // namespace

std::string CliUsage() {
  return R"(usage: genailab <command> [flags]

Commands:
  list                         Table of the loaded models.
  info      --model M          Everything the server knows about a model (genes, covariates, metrics).
  generate  --model M --out F  Sample cells: --covariates "cell_type=B,condition=stimulated;cell_type=NK"
                               (';' separates groups) --n CELLS_PER_GROUP [--seed S] [--library_size L]
                               [--sample_counts] [sampler flags]
  encode    --model M --in F --out F
                               Latent embedding of cells: .h5ad output keeps the input and adds obsm
                               "X_genailab" (mean) and "X_genailab_var"; .csv output holds the means (z0..).
  predict   --model M --in F --source C --target C --out F [--method default|latent_arithmetic|counterfactual]
                               Predict the control cells in F under condition --target. [sampler flags]
  interpolate --model M --steps N --out F  (--in F --cells CELL_A,CELL_B | --blend COV=FROM:TO [--latent z0,z1,..])
                               Decode a path: the straight latent line between two cells of F (encoded with
                               --covariate_keys), or a blend of two covariate values at a latent point.
                               --covariates "k=v,..." fixes the covariates of every point.
  traverse  --model M --axis A [--range -3:3] --steps N --out F [--latent z0,z1,..] [--covariates "k=v,.."]
                               Decode along one latent axis (obs "position" = the axis value, obsm
                               "X_latent" = the latents in .h5ad output).
  train     submit|status|watch|cancel|list
                               Training jobs on genailab-trainer (--trainer HOST:PORT, default
                               127.0.0.1:50061): submit --spec job.json [--watch]; status|watch|cancel --job ID.

Common flags:
  --server HOST:PORT (default 127.0.0.1:50051)  --version N (0 = newest)  --timeout 5m
  Security: --tls_ca CA.pem (TLS)  --tls_cert C.pem --tls_key C.key (mutual TLS)  --token_file F (bearer token)
  Input (encode, predict): --layer X|raw/X|layers/NAME  --covariate_keys k1,k2  --filter "key=value,key2=a|b"
                           --zero_fill_missing  --ignore_unknown_genes
  Sampler (generate, predict on diffusion / flow-matching models; unset = the model's default, see info):
           --sampler ddpm|ddim|euler_maruyama|pf_ode_heun|predictor_corrector|euler|heun  --steps N
           --eta E (DDIM, 0..1)  --guidance_scale W (classifier-free guidance; 1 = none)  --seed S
           The same seed and sampler flags give the same cells.
  Files: .h5ad, .csv, .tsv

Examples:
  genailab list
  genailab generate --model pbmc --covariates "cell_type=B;cell_type=NK" --n 100 --seed 7 --out cells.h5ad
  genailab encode --model pbmc --in data.h5ad --layer layers/counts --covariate_keys cell_type --out emb.h5ad
  genailab predict --model kang --in data.h5ad --filter condition=control --covariate_keys cell_type \
      --source control --target stimulated --out pred.h5ad
  genailab generate --model pbmc_diffusion --covariates "cell_type=B" --n 50 --sampler ddim --steps 25 \
      --eta 0.3 --guidance_scale 2 --seed 7 --out cells.h5ad
)";
}

absl::Status ValidateCliOptions(const CliOptions& options) {
  const std::string& command = options.command;
  if (command.empty()) return absl::InvalidArgumentError("no command given");
  if (command != "list" && !IsModelCommand(command)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown command '", command, "'"));
  }
  if (options.server.empty()) return absl::InvalidArgumentError("--server: empty");
  if (options.version < 0) return absl::InvalidArgumentError("--version: must be >= 0");
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--timeout: must be positive");
  }
  if (options.max_message_mb <= 0 || options.max_message_mb > 2047) {
    return absl::InvalidArgumentError("--max_message_mb: must be in [1, 2047]");
  }
  if (IsModelCommand(command) && options.model.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(command, ": --model is required"));
  }
  if (command == "list" || command == "info") return absl::OkStatus();
  if (options.out.empty()) return absl::InvalidArgumentError(absl::StrCat(command, ": --out is required"));
  if (!HasExpressionFileExtension(options.out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--out: '", options.out, "' must end in .h5ad, .csv, .tsv or .txt"));
  }
  if (command == "generate" || command == "predict") {
    if (options.sampler.steps < 0) return absl::InvalidArgumentError("--steps: must be >= 0 (0 = the model's default)");
    if (!(options.sampler.eta >= 0.0f && options.sampler.eta <= 1.0f)) {
      return absl::InvalidArgumentError("--eta: must be in [0, 1]");
    }
    if (!(options.sampler.guidance_scale >= 0.0f)) {
      return absl::InvalidArgumentError("--guidance_scale: must be >= 0 (0 = the model's default)");
    }
  }
  if (command == "generate") {
    if (options.n < 0) return absl::InvalidArgumentError("--n: must be >= 0");
    return ParseCellGroups(options.covariates, options.n).status();
  }
  if (command == "interpolate" || command == "traverse") {
    if (options.steps < 2) return absl::InvalidArgumentError("--steps: must be >= 2");
    if (command == "interpolate") {
      if (options.blend.empty() == options.cells.empty()) {
        return absl::InvalidArgumentError("interpolate: give either --cells (with --in) or --blend");
      }
      if (!options.cells.empty()) {
        if (options.in.empty()) return absl::InvalidArgumentError("interpolate: --cells needs --in");
        if (std::vector<std::string>(absl::StrSplit(options.cells, ',')).size() != 2) {
          return absl::InvalidArgumentError("--cells: must name two cells, CELL_A,CELL_B");
        }
      } else {
        GENAILAB_RETURN_IF_ERROR(ParseBlend(options.blend).status());
      }
    }
    return ParseFloats(options.latent, "latent").status();
  }
  if (options.in.empty()) return absl::InvalidArgumentError(absl::StrCat(command, ": --in is required"));
  if (command == "predict") {
    if (options.source.empty()) return absl::InvalidArgumentError("predict: --source is required");
    if (options.target.empty()) return absl::InvalidArgumentError("predict: --target is required");
    absl::Status method = ParsePerturbationMethod(options.method).status();
    if (!method.ok()) return absl::InvalidArgumentError(absl::StrCat("--", method.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CellGroup>> ParseCellGroups(const std::string& spec, int64_t n_cells) {
  std::vector<CellGroup> groups;
  const std::vector<std::string> group_specs = absl::StrSplit(spec, ';');
  for (size_t g = 0; g < group_specs.size(); ++g) {
    CellGroup group;
    group.n_cells = n_cells;
    for (absl::string_view pair : absl::StrSplit(group_specs[g], ',', absl::SkipWhitespace())) {
      std::vector<std::string> parts = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      const std::string name(absl::StripAsciiWhitespace(parts[0]));
      if (parts.size() != 2 || name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("--covariates: group ", g + 1, ": '", pair,
                                                       "' is not name=value"));
      }
      if (!group.covariates.emplace(name, std::string(absl::StripAsciiWhitespace(parts[1]))).second) {
        return absl::InvalidArgumentError(absl::StrCat("--covariates: group ", g + 1, ": '", name,
                                                       "' is given twice"));
      }
    }
    if (group.covariates.empty() && group_specs.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat("--covariates: group ", g + 1, " is empty"));
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

absl::StatusOr<AnnData> FilterCells(const AnnData& cells, const std::string& filter) {
  if (filter.empty()) return cells;
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < cells.n_obs(); ++i) kept.push_back(i);
  for (absl::string_view condition : absl::StrSplit(filter, ',', absl::SkipWhitespace())) {
    std::vector<std::string> parts = absl::StrSplit(condition, absl::MaxSplits('=', 1));
    const std::string key(absl::StripAsciiWhitespace(parts[0]));
    if (parts.size() != 2 || key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--filter: '", condition, "' is not obs_key=value"));
    }
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string>* column, cells.ObsColumn(key));
    if (static_cast<int64_t>(column->size()) != cells.n_obs()) {
      return absl::InvalidArgumentError(absl::StrCat("--filter: obs column '", key, "' has ",
                                                     column->size(), " values for ", cells.n_obs(),
                                                     " cells"));
    }
    const std::vector<std::string> alternatives = absl::StrSplit(parts[1], '|');
    const std::set<std::string> accepted(alternatives.begin(), alternatives.end());
    std::vector<int64_t> still_kept;
    for (int64_t i : kept) {
      if (accepted.count((*column)[static_cast<size_t>(i)]) > 0) still_kept.push_back(i);
    }
    kept = std::move(still_kept);
  }
  if (kept.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--filter: '", filter, "' keeps none of the ",
                                                   cells.n_obs(), " cells"));
  }
  return cells.SelectCells(kept);
}

int RunCli(const CliOptions& options, std::ostream& out, std::ostream& err) {
  absl::Status valid = ValidateCliOptions(options);
  if (!valid.ok()) {
    PrintError(valid, err);
    err << "\n" << CliUsage();
    return kExitUsage;
  }
  GenailabClient::Options client_options;
  client_options.target = options.server;
  client_options.timeout = options.timeout;
  client_options.max_message_bytes = options.max_message_mb << 20;
  client_options.tls_ca_file = options.tls_ca;
  client_options.tls_cert_file = options.tls_cert;
  client_options.tls_key_file = options.tls_key;
  client_options.token_file = options.token_file;
  absl::StatusOr<std::unique_ptr<GenailabClient>> client = GenailabClient::Create(client_options);
  absl::Status status = client.ok() ? RunCommand(options, **client, out) : client.status();
  if (!status.ok()) {
    PrintError(status, err);
    return kExitError;
  }
  return kExitOk;
}

}  // namespace genailab
