/* A stand-in for libnvidia-ml.so.1 with two GPUs, for NvmlMemoryReader tests: the entry points it
 * resolves, with NVML's C signatures. Device 0: 1 GiB of 16 GiB used; device 1: 3 GiB of 80 GiB. */
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_t;

static struct nvmlDevice_st { int index; } devices[2] = {{0}, {1}};
static int initialized = 0;

nvmlReturn_t nvmlInit_v2(void) {
  initialized = 1;
  return 0;
}
nvmlReturn_t nvmlShutdown(void) {
  initialized = 0;
  return 0;
}
const char* nvmlErrorString(nvmlReturn_t result) { return result == 1 ? "Uninitialized" : "Invalid Argument"; }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  if (!initialized) return 1;
  *count = 2;
  return 0;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  if (index >= 2) return 2;
  *device = &devices[index];
  return 0;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  const unsigned long long gib = 1ull << 30;
  memory->total = device->index == 0 ? 16 * gib : 80 * gib;
  memory->used = device->index == 0 ? 1 * gib : 3 * gib;
  memory->free = memory->total - memory->used;
  return 0;
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  const char* name = device->index == 0 ? "GPU-aaaa-1111" : "GPU-bbbb-2222";
  if (length < strlen(name) + 1) return 2;
  strcpy(uuid, name);
  return 0;
}
