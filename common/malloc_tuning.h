// KeepLargeBuffersInHeap: process-wide glibc malloc settings for servers that move large messages.
//
// A 1024-cell request or response is about 1 MB. With glibc's defaults, buffers that size are
// mmap()ed on allocation and munmap()ed on free (the dynamic threshold adapts only part of the way),
// so every call pays page faults to touch fresh memory (a fifth of the worker's time in a 1024-cell
// Generate, measured with perf; in a 4 s run of 1024-cell Encode requests, 447,000 page faults without
// these settings and 28,000 with them). Raising the mmap and trim thresholds keeps such buffers in the heap
// between calls. Memory returns to the system on explicit malloc_trim (the model manager calls it
// after unloading a version). No-op on other C libraries.
//
// Call once, early in main(), before threads start.
#ifndef GENAILAB_COMMON_MALLOC_TUNING_H_
#define GENAILAB_COMMON_MALLOC_TUNING_H_

namespace genailab {

// Buffers up to 32 MiB come from the heap; up to 256 MiB of free heap top is kept, and the heap grows
// 64 MiB at a time. True when applied.
bool KeepLargeBuffersInHeap();

}  // namespace genailab

#endif  // GENAILAB_COMMON_MALLOC_TUNING_H_
