#include "common/sha256.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace genailab {
namespace {

TEST(Sha256Test, KnownVectors) {
  Sha256 empty;
  EXPECT_EQ(empty.HexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("ab");
  abc.Update("c");
  EXPECT_EQ(abc.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, OfFileMatchesInMemoryAndReportsMissing) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/abc.bin";
  std::ofstream(path, std::ios::binary) << "abc";
  EXPECT_EQ(Sha256::OfFile(path).value(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto missing = Sha256::OfFile(path + ".missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), ::testing::HasSubstr("abc.bin.missing"));
}

}  // namespace
}  // namespace genailab
