#include "common/malloc_tuning.h"

#include <cstdlib>
#include <cstring>

#include "gtest/gtest.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace genailab {
namespace {

#if defined(__GLIBC__)
TEST(MallocTuningTest, MegabyteBuffersComeFromTheHeapAfterTuning) {
  ASSERT_TRUE(KeepLargeBuffersInHeap());
  // A 1 MiB block is no longer mmap()ed: mallinfo2's hblkhd (bytes in mmapped blocks) does not grow.
  const size_t mmapped_before = mallinfo2().hblkhd;
  void* block = std::malloc(1 << 20);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, 1 << 20);
  EXPECT_EQ(mallinfo2().hblkhd, mmapped_before);
  std::free(block);
}
#endif

}  // namespace
}  // namespace genailab
