// The raw encoding of KServe v2 BYTES tensors (`raw_input_contents` / `raw_output_contents`): each
// element is a 4-byte little-endian length followed by its bytes. Shared by the adapter, which reads and
// writes it, and by load generators and clients that build raw requests.
#ifndef GENAILAB_SERVER_KSERVE_RAW_BYTES_H_
#define GENAILAB_SERVER_KSERVE_RAW_BYTES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace genailab {

// The elements of `raw`. INVALID_ARGUMENT naming `field` for a truncated length, an element longer than
// the data, or a number of elements other than `count`.
absl::StatusOr<std::vector<std::string>> DecodeRawBytes(const std::string& raw, int64_t count,
                                                        const std::string& field);

// Appends `element` to `raw` in the raw encoding.
void AppendRawBytes(const std::string& element, std::string* raw);

}  // namespace genailab

#endif  // GENAILAB_SERVER_KSERVE_RAW_BYTES_H_
