// `genailab`: the command-line client of a genailab server. Flags are parsed into CliOptions and RunCli
// does the rest; see cli.h and client/README.md.
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

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "host:port of the genailab server");
ABSL_FLAG(std::string, model, "", "model name");
ABSL_FLAG(int64_t, version, 0, "model version; 0 = the newest loaded");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(5), "deadline of each RPC, e.g. 30s or 5m");
ABSL_FLAG(int64_t, max_message_mb, 256, "largest gRPC message sent or received, in MiB");
ABSL_FLAG(std::string, covariates, "",
          "generate: groups of name=value pairs, pairs separated by ',', groups by ';'");
ABSL_FLAG(int64_t, n, 100, "generate: cells per group");
ABSL_FLAG(uint64_t, seed, 0, "generate: random seed (same seed and request give the same cells)");
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
  return genailab::RunCli(options, std::cout, std::cerr);
}
