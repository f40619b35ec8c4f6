// `genailab`: the command-line client of a genailab server. Flags are parsed into CliOptions and RunCli
// does the rest; see cli.h and client/README.md.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/strip.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/cli.h"
#include "client/train_cli.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "host:port of the genailab server");
ABSL_FLAG(std::string, model, "", "model name");
ABSL_FLAG(int64_t, version, 0, "model version; 0 = the newest loaded");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(5), "deadline of each RPC, e.g. 30s or 5m");
ABSL_FLAG(int64_t, max_message_mb, 256, "largest gRPC message sent or received, in MiB");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle to verify the server (or trainer) with; set = TLS");
ABSL_FLAG(std::string, tls_cert, "", "mutual TLS: this client's PEM certificate chain (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "mutual TLS: this client's PEM private key (with --tls_cert)");
ABSL_FLAG(std::string, token_file, "", "file whose first token is sent as 'authorization: Bearer' (TLS only)");
ABSL_FLAG(std::string, covariates, "",
          "generate: groups of name=value pairs, pairs separated by ',', groups by ';'");
ABSL_FLAG(int64_t, n, 100, "generate: cells per group");
ABSL_FLAG(uint64_t, seed, 0, "generate/predict: random seed (same seed and request give the same cells)");
ABSL_FLAG(std::string, sampler, "", "generate/predict, iterative models: sampler (empty = the model's default)");
ABSL_FLAG(float, eta, 0.0f, "generate/predict, iterative models: DDIM eta in [0, 1]");
ABSL_FLAG(float, guidance_scale, 0.0f,
          "generate/predict, iterative models: classifier-free guidance scale (0 = the model's default, 1 = none)");
ABSL_FLAG(float, library_size, 0.0f, "generate: library size for count models; 0 = training median");
ABSL_FLAG(bool, sample_counts, false, "generate: sample counts instead of returning the NB mean");
ABSL_FLAG(std::string, in, "", "encode/predict: input .h5ad, .csv or .tsv");
ABSL_FLAG(std::string, layer, "X", "encode/predict: matrix to read from .h5ad: X, raw/X or layers/NAME");
ABSL_FLAG(std::string, filter, "",
          "encode/predict: keep cells matching obs_key=value[,key=value] (value may be a|b)");
ABSL_FLAG(std::vector<std::string>, covariate_keys, {},
          "encode/predict: obs columns sent as covariates, comma-separated");
ABSL_FLAG(bool, zero_fill_missing, false, "fill model genes missing from the input with zeros");
ABSL_FLAG(bool, ignore_unknown_genes, false, "drop input genes the model does not know");
ABSL_FLAG(std::string, source, "", "predict: condition of the input cells");
ABSL_FLAG(std::string, target, "", "predict: condition to predict");
ABSL_FLAG(std::string, method, "default", "predict: default, latent_arithmetic or counterfactual");
ABSL_FLAG(std::string, out, "", "generate/encode/predict: output .h5ad, .csv or .tsv");
ABSL_FLAG(int, steps, 0,
          "interpolate/traverse: points on the path (0 = 10); generate/predict: sampling steps of an iterative "
          "model (0 = the model's default)");
ABSL_FLAG(std::string, latent, "", "interpolate --blend / traverse: latent point z0,z1,... (empty = origin)");
ABSL_FLAG(std::string, cells, "", "interpolate: two obs names of --in, CELL_A,CELL_B");
ABSL_FLAG(std::string, blend, "", "interpolate: covariate=FROM:TO");
ABSL_FLAG(int64_t, axis, 0, "traverse: the latent dimension to vary");
ABSL_FLAG(std::string, range, "", "traverse: START:END of the axis (empty = -3:3)");
ABSL_FLAG(std::string, trainer, "127.0.0.1:50061", "train: host:port of genailab-trainer");
ABSL_FLAG(std::string, spec, "", "train submit: job spec file (JSON)");
ABSL_FLAG(std::string, job, "", "train status/watch/cancel: job id");
ABSL_FLAG(bool, watch, false, "train submit: follow the job until it ends");

namespace {

// The first "--name" on the command line that names no flag, or "". absl::ParseCommandLine would exit 1
// on it; checking first lets an unknown flag exit with the usage code like every other usage error.
std::string FirstUndefinedFlag(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "-")) continue;
    absl::ConsumePrefix(&arg, "-");
    const absl::string_view name = arg.substr(0, arg.find('='));
    if (name.empty() || absl::FindCommandLineFlag(name) != nullptr) continue;
    absl::string_view negated = name;
    const absl::CommandLineFlag* flag =
        absl::ConsumePrefix(&negated, "no") ? absl::FindCommandLineFlag(negated) : nullptr;
    if (flag == nullptr || !flag->IsOfType<bool>()) return std::string(name);
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(genailab::CliUsage());
  const std::string undefined_flag = FirstUndefinedFlag(argc, argv);
  if (!undefined_flag.empty()) {
    std::cerr << "genailab: INVALID_ARGUMENT: unknown flag --" << undefined_flag << "\n\n"
              << genailab::CliUsage();
    return genailab::kExitUsage;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1 && std::string(positional[1]) == "train") {
    genailab::TrainCliOptions train;
    if (positional.size() > 2) train.command = positional[2];
    if (positional.size() > 3) {
      std::cerr << "genailab: INVALID_ARGUMENT: unexpected argument '" << positional[3] << "'\n\n"
                << genailab::TrainCliUsage();
      return genailab::kExitUsage;
    }
    train.trainer = absl::GetFlag(FLAGS_trainer);
    train.spec = absl::GetFlag(FLAGS_spec);
    train.job = absl::GetFlag(FLAGS_job);
    train.watch = absl::GetFlag(FLAGS_watch);
    train.timeout = absl::GetFlag(FLAGS_timeout);
    train.security.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
    train.security.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
    train.security.tls_key_file = absl::GetFlag(FLAGS_tls_key);
    train.security.token_file = absl::GetFlag(FLAGS_token_file);
    train.progress_bar = isatty(STDOUT_FILENO) == 1;
    return genailab::RunTrainCli(train, std::cout, std::cerr);
  }

  genailab::CliOptions options;
  if (positional.size() > 1) options.command = positional[1];
  if (positional.size() > 2) {
    std::cerr << "genailab: INVALID_ARGUMENT: unexpected argument '" << positional[2] << "'\n\n"
              << genailab::CliUsage();
    return genailab::kExitUsage;
  }
  options.server = absl::GetFlag(FLAGS_server);
  options.model = absl::GetFlag(FLAGS_model);
  options.version = absl::GetFlag(FLAGS_version);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  options.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.token_file = absl::GetFlag(FLAGS_token_file);
  options.covariates = absl::GetFlag(FLAGS_covariates);
  options.n = absl::GetFlag(FLAGS_n);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.library_size = absl::GetFlag(FLAGS_library_size);
  options.sample_counts = absl::GetFlag(FLAGS_sample_counts);
  options.in = absl::GetFlag(FLAGS_in);
  options.layer = absl::GetFlag(FLAGS_layer);
  options.filter = absl::GetFlag(FLAGS_filter);
  options.covariate_keys = absl::GetFlag(FLAGS_covariate_keys);
  options.zero_fill_missing = absl::GetFlag(FLAGS_zero_fill_missing);
  options.ignore_unknown_genes = absl::GetFlag(FLAGS_ignore_unknown_genes);
  options.source = absl::GetFlag(FLAGS_source);
  options.target = absl::GetFlag(FLAGS_target);
  options.method = absl::GetFlag(FLAGS_method);
  options.out = absl::GetFlag(FLAGS_out);
  // --steps counts path points for interpolate / traverse and sampler steps for generate / predict.
  const int steps = absl::GetFlag(FLAGS_steps);
  options.steps = steps == 0 ? 10 : steps;
  options.sampler.steps = steps;
  options.sampler.sampler = absl::GetFlag(FLAGS_sampler);
  options.sampler.eta = absl::GetFlag(FLAGS_eta);
  options.sampler.guidance_scale = absl::GetFlag(FLAGS_guidance_scale);
  options.latent = absl::GetFlag(FLAGS_latent);
  options.cells = absl::GetFlag(FLAGS_cells);
  options.blend = absl::GetFlag(FLAGS_blend);
  options.axis = absl::GetFlag(FLAGS_axis);
  options.range = absl::GetFlag(FLAGS_range);
  return genailab::RunCli(options, std::cout, std::cerr);
}
