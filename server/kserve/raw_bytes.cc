#include "server/kserve/raw_bytes.h"

#include "absl/strings/str_cat.h"

namespace genailab {

absl::StatusOr<std::vector<std::string>> DecodeRawBytes(const std::string& raw, int64_t count,
                                                        const std::string& field) {
  std::vector<std::string> elements;
  size_t offset = 0;
  while (offset < raw.size()) {
    if (raw.size() - offset < 4) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": truncated BYTES element length"));
    }
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data() + offset);
    const uint32_t length = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
    offset += 4;
    if (raw.size() - offset < length) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": BYTES element longer than the data"));
    }
    elements.emplace_back(raw.data() + offset, length);
    offset += length;
  }
  if (static_cast<int64_t>(elements.size()) != count) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", elements.size(), " BYTES elements for shape of ", count));
  }
  return elements;
}

void AppendRawBytes(const std::string& element, std::string* raw) {
  const uint32_t length = static_cast<uint32_t>(element.size());
  for (int i = 0; i < 4; ++i) raw->push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  raw->append(element);
}

}  // namespace genailab
