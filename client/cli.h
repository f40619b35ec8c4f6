// The `genailab` command: its options, the parsing of its small text formats (generation groups, cell
// filters) and Run(), which executes one subcommand against a server through GenailabClient.
// cli_main.cc defines the flags, fills CliOptions and calls RunCli.
//
// Stateless functions; RunCli writes only to the given streams and the --out file.
#ifndef GENAILAB_CLIENT_CLI_H_
#define GENAILAB_CLIENT_CLI_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/genailab_client.h"
#include "data/anndata.h"

namespace genailab {

// Process exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // The RPC or a file operation failed.
inline constexpr int kExitUsage = 2;  // Bad command line.

struct CliOptions {
  // "list", "info", "generate", "encode", "predict", "interpolate" or "traverse".
  std::string command;
  std::string server = "127.0.0.1:50051";
  std::string model;
  int64_t version = 0;
  absl::Duration timeout = absl::Minutes(5);
  int64_t max_message_mb = 256;
  // Security (GenailabClient::Options tls_ca_file, tls_cert_file, tls_key_file, token_file).
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string token_file;
  // generate: groups "k=v,k=v;k=v" (see ParseCellGroups), cells per group, seed, NB options.
  std::string covariates;
  int64_t n = 100;
  uint64_t seed = 0;
  float library_size = 0.0f;
  bool sample_counts = false;
  // encode / predict input: file, layer ("X", "raw/X", "layers/<name>"), cell filter, covariate columns.
  std::string in;
  std::string layer = "X";
  std::string filter;
  std::vector<std::string> covariate_keys;
  bool zero_fill_missing = false;
  bool ignore_unknown_genes = false;
  // generate / predict on iterative models (diffusion, flow matching): sampler name, steps, eta and guidance
  // scale (zero / empty = the model's defaults); `seed` seeds the request's random stream.
  SamplerOptions sampler;
  // predict.
  std::string source;
  std::string target;
  std::string method = "default";
  // interpolate / traverse: points on the path; the covariates of every point are one --covariates
  // group ("k=v,k=v"); --latent is the fixed latent point ("0.1,-0.2,..."; empty = the origin).
  int steps = 10;
  std::string latent;
  // interpolate: either two cells of --in, by obs name ("CELL_A,CELL_B"), encoded (with --covariate_keys)
  // and joined by a straight line in latent space; or --blend "covariate=FROM:TO" at --latent.
  std::string cells;
  std::string blend;
  // traverse: the latent axis and its range "START:END" (empty = the server's default, -3:3).
  int64_t axis = 0;
  std::string range;
  // generate / encode / predict / interpolate / traverse output: .h5ad, .csv or .tsv.
  std::string out;
};

// The usage text: subcommands, their flags and examples.
std::string CliUsage();

// INVALID_ARGUMENT naming the flag for a command line that cannot run (unknown command, missing --model,
// --in or --out, an output extension other than .h5ad/.csv/.tsv/.txt, n < 0, an unknown --method, ...).
absl::Status ValidateCliOptions(const CliOptions& options);

// Parses generate's --covariates: groups separated by ';', each a comma-separated list of name=value;
// every group gets n_cells cells. An empty spec is one group without covariates (an unconditional model).
// INVALID_ARGUMENT naming the bad group or pair (missing '=', empty name, a name given twice).
absl::StatusOr<std::vector<CellGroup>> ParseCellGroups(const std::string& spec, int64_t n_cells);

// The cells passing `filter`: comma-separated obs_key=value conditions, all of which must hold; a value
// may list alternatives with '|' ("cell_type=B|NK"). An empty filter keeps every cell. INVALID_ARGUMENT
// for a malformed condition or a filter that keeps no cell; NOT_FOUND for an unknown obs column.
absl::StatusOr<AnnData> FilterCells(const AnnData& cells, const std::string& filter);

// Runs options.command, printing results to `out` and "genailab: <CODE>: <message>" errors to `err`.
// Returns kExitOk, kExitUsage (invalid options; the usage text follows the error) or kExitError.
int RunCli(const CliOptions& options, std::ostream& out, std::ostream& err);

}  // namespace genailab

#endif  // GENAILAB_CLIENT_CLI_H_
