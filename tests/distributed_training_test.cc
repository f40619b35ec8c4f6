// Distributed data-parallel training with the real genailab-train binary: two processes on loopback
// (torchrun-style environment: WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT; c10d TCPStore + Gloo) end
// with the same weights, within a float tolerance, as one process training on the same global batches
// (--batch_shards=2, so each half batch draws the same dropout masks and latent noise as the rank that
// computes it there).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "data/h5ad_io.h"
#include "data/synthetic.h"
#include "models/checkpoint.h"
#include "tests/process.h"

namespace genailab {
namespace {

using testing::ChildProcess;

// A loopback port that was free a moment ago.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

class DistributedTrainingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::getenv("TEST_TMPDIR");
    SyntheticOptions options;
    options.n_genes = 60;
    options.n_cell_types = 2;
    options.n_batches = 1;
    options.cells_per_group = 100;
    options.seed = 9;
    data_path_ = tmp_ + "/cells.h5ad";
    ASSERT_TRUE(WriteH5ad(data_path_, GenerateSyntheticDataset(options).value()).ok());
  }

  std::vector<std::string> TrainArgs(const std::string& repository) const {
    return {testing::RunfilePath("trainer/genailab-train"), "--data=" + data_path_, "--model=ddp",
            "--repository=" + tmp_ + "/" + repository, "--model_type=cvae", "--covariate_keys=cell_type",
            "--condition_key=condition", "--latent_dim=4", "--hidden_dims=32", "--epochs=3",
            "--batch_size=32", "--seed=5", "--threads=1"};
  }

  // Generated means of the published model (version 1): a function of every decoder weight.
  std::vector<float> Generated(const std::string& repository) const {
    auto model = LoadCheckpoint(tmp_ + "/" + repository + "/ddp/1", "cpu");
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return {};
    auto cells = (*model)->Generate(8, {{0, 1, 0, 1, 0, 1, 0, 1}}, 3, 0.0f, false);
    EXPECT_TRUE(cells.ok()) << cells.status();
    return cells.ok() ? cells->values : std::vector<float>();
  }

  static float MaxAbsDifference(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    float difference = 0.0f;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) difference = std::max(difference, std::abs(a[i] - b[i]));
    return difference;
  }

  std::string tmp_;
  std::string data_path_;
};

TEST_F(DistributedTrainingTest, TwoRanksOnLoopbackMatchOneProcessWithTheSameGlobalBatch) {
  const int port = FreePort();
  std::vector<ChildProcess> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    // The child inherits the environment at spawn.
    setenv("WORLD_SIZE", "2", 1);
    setenv("RANK", std::to_string(rank).c_str(), 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    auto process = ChildProcess::Start(TrainArgs("distributed"), absl::StrCat(tmp_, "/rank", rank, ".log"));
    ASSERT_TRUE(process.ok()) << process.status();
    ranks.push_back(std::move(*process));
  }
  for (const char* name : {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(name);
  for (int rank = 0; rank < 2; ++rank) {
    const auto exit_code = ranks[rank].WaitForExit(absl::Minutes(3));
    ASSERT_TRUE(exit_code.ok()) << exit_code.status();
    EXPECT_EQ(*exit_code, 0) << testing::ReadFileOrEmpty(absl::StrCat(tmp_, "/rank", rank, ".log"));
  }
  EXPECT_THAT(testing::ReadFileOrEmpty(tmp_ + "/rank1.log"), ::testing::HasSubstr("rank 0 publishes"));

  std::vector<std::string> single = TrainArgs("single");
  single.push_back("--batch_shards=2");
  auto exit_code = testing::RunToCompletion(single, tmp_ + "/single.log", absl::Minutes(3));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  ASSERT_EQ(*exit_code, 0) << testing::ReadFileOrEmpty(tmp_ + "/single.log");

  // The control: one process with one shard per batch draws different noise, so it lands elsewhere.
  exit_code = testing::RunToCompletion(TrainArgs("unsharded"), tmp_ + "/unsharded.log", absl::Minutes(3));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  ASSERT_EQ(*exit_code, 0) << testing::ReadFileOrEmpty(tmp_ + "/unsharded.log");

  const std::vector<float> distributed = Generated("distributed");
  const std::vector<float> one_process = Generated("single");
  ASSERT_FALSE(distributed.empty());
  EXPECT_LT(MaxAbsDifference(distributed, one_process), 1e-4f);
  EXPECT_GT(MaxAbsDifference(Generated("unsharded"), one_process), 1e-3f);
}

}  // namespace
}  // namespace genailab
