// serving_noop: genailab.v1.GenerativeService answering Encode and Generate at once with an empty
// response, on gRPC's synchronous server (--api=sync) or on its callback API (--api=callback, as
// genailab-server serves these RPCs). For small requests its rate is the ceiling that no gRPC server on
// this machine can pass, whatever the model; the benchmark runs both and compares with the faster.
//
//   serving_noop --api=sync|callback --address=127.0.0.1:0 --port_file=/tmp/noop.port
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, address, "127.0.0.1:0", "host:port to serve on (port 0 = any free port).");
ABSL_FLAG(std::string, port_file, "", "Write the bound port here.");
ABSL_FLAG(std::string, api, "sync", "sync: gRPC's synchronous server; callback: its callback API.");

namespace genailab {
namespace {

class NoopService final : public v1::GenerativeService::Service {
 public:
  grpc::Status Encode(grpc::ServerContext*, const v1::EncodeRequest*, v1::EncodeResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status Generate(grpc::ServerContext*, const v1::GenerateRequest*, v1::GenerateResponse*) override {
    return grpc::Status::OK;
  }
};

class NoopCallbackService final : public v1::GenerativeService::CallbackService {
 public:
  grpc::ServerUnaryReactor* Encode(grpc::CallbackServerContext* context, const v1::EncodeRequest*,
                                   v1::EncodeResponse*) override {
    return Done(context);
  }
  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context, const v1::GenerateRequest*,
                                     v1::GenerateResponse*) override {
    return Done(context);
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

int Run() {
  const std::string api = absl::GetFlag(FLAGS_api);
  if (api != "sync" && api != "callback") {
    std::cerr << "--api must be sync or callback, got '" << api << "'\n";
    return 2;
  }
  NoopService sync_service;
  NoopCallbackService callback_service;
  grpc::Service* service = api == "sync" ? static_cast<grpc::Service*>(&sync_service) : &callback_service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_address), grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(-1);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "cannot bind " << absl::GetFlag(FLAGS_address) << "\n";
    return 1;
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_port_file)) << port << "\n";
  }
  server->Wait();
  return 0;
}

}  // namespace
}  // namespace genailab

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return genailab::Run();
}
