#include "data/h5ad_io.h"

#include <hdf5.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

// HDF5 keeps process-wide state (its id tables, the error stack settings changed below) and Debian's
// serial build is not safe to enter from two threads at once, so every public function here holds this
// lock for its whole duration. It is the only mutable state of this file, and it guards a C library's
// globals rather than any data of ours.
ABSL_CONST_INIT absl::Mutex hdf5_mutex(absl::kConstInit);

// Owns one HDF5 identifier (file, group, dataset, attribute, type, space or property list) and releases
// it on destruction. Move-only.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, -1)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      Reset();
      id_ = std::exchange(other.id_, -1);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { Reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  void Reset() {
    if (id_ >= 0) H5Idec_ref(id_);
    id_ = -1;
  }
  hid_t id_ = -1;
};

// Silences HDF5's automatic error-stack printing while alive (we report errors as statuses instead) and
// restores the previous handler afterwards. Constructed only under hdf5_mutex.
class ScopedSilenceHdf5Errors {
 public:
  ScopedSilenceHdf5Errors() {
    H5Eget_auto2(H5E_DEFAULT, &old_func_, &old_data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~ScopedSilenceHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, old_func_, old_data_); }
  ScopedSilenceHdf5Errors(const ScopedSilenceHdf5Errors&) = delete;
  ScopedSilenceHdf5Errors& operator=(const ScopedSilenceHdf5Errors&) = delete;

 private:
  H5E_auto2_t old_func_ = nullptr;
  void* old_data_ = nullptr;
};

// ---------------------------------------------------------------------------------------------------
// Reading helpers. `label` is the h5ad path used in error messages.

bool LinkExists(hid_t loc, const std::string& path) {
  // H5Lexists fails (rather than returning false) when an intermediate group is missing, so walk the
  // path one component at a time.
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    prefix = prefix.empty() ? std::string(part) : absl::StrCat(prefix, "/", part);
    if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return !prefix.empty();
}

absl::StatusOr<Handle> OpenObject(hid_t loc, const std::string& path, const std::string& label) {
  if (!LinkExists(loc, path)) return absl::NotFoundError(absl::StrCat("'", label, "' not found"));
  Handle object(H5Oopen(loc, path.c_str(), H5P_DEFAULT));
  if (!object.valid()) {
    return absl::InvalidArgumentError(absl::StrCat("'", label, "': cannot open"));
  }
  return object;
}

bool IsGroup(hid_t object) { return H5Iget_type(object) == H5I_GROUP; }
bool IsDataset(hid_t object) { return H5Iget_type(object) == H5I_DATASET; }

// Reads a variable-length or fixed-length string buffer of `count` elements with file type `type`.
// `read` performs the H5Dread/H5Aread into the given memory type and buffer.
template <typename ReadFn>
absl::StatusOr<std::vector<std::string>> ReadStrings(hid_t type, size_t count, const std::string& label,
                                                     ReadFn read) {
  if (H5Tget_class(type) != H5T_STRING) {
    return absl::InvalidArgumentError(absl::StrCat("'", label, "': expected strings"));
  }
  std::vector<std::string> out;
  out.reserve(count);
  if (H5Tis_variable_str(type) > 0) {
    Handle mem_type(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem_type.get(), H5T_VARIABLE);
    H5Tset_cset(mem_type.get(), H5Tget_cset(type));
    std::vector<char*> buffer(count, nullptr);
    if (count > 0 && read(mem_type.get(), buffer.data()) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("'", label, "': cannot read strings"));
    }
    for (char* s : buffer) {
      out.emplace_back(s == nullptr ? "" : s);
      // Strings were allocated by HDF5's default (malloc-based) allocator.
      H5free_memory(s);
    }
    return out;
  }
  const size_t width = H5Tget_size(type);
  std::vector<char> buffer(count * width + 1, '\0');
  Handle mem_type(H5Tcopy(type));
  if (count > 0 && read(mem_type.get(), buffer.data()) < 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", label, "': cannot read strings"));
  }
  for (size_t i = 0; i < count; ++i) {
    const char* begin = buffer.data() + i * width;
    size_t length = strnlen(begin, width);
    while (length > 0 && begin[length - 1] == ' ') --length;  // space-padded fixed strings
    out.emplace_back(begin, length);
  }
  return out;
}

size_t SpaceElementCount(hid_t space) {
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  return n < 0 ? 0 : static_cast<size_t>(n);
}

std::vector<hsize_t> SpaceDims(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank > 0 ? static_cast<size_t>(rank) : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

absl::StatusOr<Handle> OpenAttribute(hid_t object, const std::string& name, const std::string& label) {
  if (H5Aexists(object, name.c_str()) <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", label, "': missing attribute '", name, "'"));
  }
  Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  if (!attr.valid()) {
    return absl::InvalidArgumentError(absl::StrCat("'", label, "': cannot open attribute '", name, "'"));
  }
  return attr;
}

absl::StatusOr<std::vector<std::string>> ReadStringArrayAttribute(hid_t object, const std::string& name,
                                                                  const std::string& label) {
  GENAILAB_ASSIGN_OR_RETURN(Handle attr, OpenAttribute(object, name, label));
  Handle type(H5Aget_type(attr.get()));
  Handle space(H5Aget_space(attr.get()));
  const size_t count = SpaceElementCount(space.get());
  // anndata writes an empty column-order as an empty float64 array.
  if (count == 0) return std::vector<std::string>{};
  const std::string attr_label = absl::StrCat(label, ".attrs['", name, "']");
  return ReadStrings(type.get(), count, attr_label,
                     [&](hid_t mem_type, void* buffer) { return H5Aread(attr.get(), mem_type, buffer); });
}

absl::StatusOr<std::string> ReadStringAttribute(hid_t object, const std::string& name,
                                                const std::string& label) {
  GENAILAB_ASSIGN_OR_RETURN(std::vector<std::string> values, ReadStringArrayAttribute(object, name, label));
  if (values.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", label, "': attribute '", name, "' is not a single string"));
  }
  return values[0];
}

// The encoding-type attribute, or "" when absent (datasets written by older anndata versions).
std::string EncodingType(hid_t object, const std::string& label) {
  if (H5Aexists(object, "encoding-type") <= 0) return "";
  absl::StatusOr<std::string> type = ReadStringAttribute(object, "encoding-type", label);
  return type.ok() ? *type : "";
}

absl::StatusOr<std::vector<int64_t>> ReadIntArrayAttribute(hid_t object, const std::string& name,
                                                           const std::string& label) {
  GENAILAB_ASSIGN_OR_RETURN(Handle attr, OpenAttribute(object, name, label));
  Handle space(H5Aget_space(attr.get()));
  std::vector<int64_t> values(SpaceElementCount(space.get()));
  if (!values.empty() && H5Aread(attr.get(), H5T_NATIVE_INT64, values.data()) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", label, "': attribute '", name, "' is not an integer array"));
  }
  return values;
}

// A numeric dataset (any integer or float width; booleans stored as HDF5 enums too), as `T`.
template <typename T>
absl::StatusOr<std::vector<T>> ReadNumericDataset(hid_t dataset, hid_t mem_type, const std::string& label,
                                                  std::vector<hsize_t>* dims = nullptr) {
  Handle type(H5Dget_type(dataset));
  Handle space(H5Dget_space(dataset));
  if (dims != nullptr) *dims = SpaceDims(space.get());
  const size_t count = SpaceElementCount(space.get());
  std::vector<T> values(count);
  if (count == 0) return values;
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class == H5T_INTEGER || type_class == H5T_FLOAT) {
    if (H5Dread(dataset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("'", label, "': cannot read numeric data"));
    }
    return values;
  }
  if (type_class == H5T_ENUM) {
    // h5py stores numpy booleans as an int8 enum {FALSE, TRUE}; HDF5 converts enums only to enums, so
    // read the raw integers and widen them here.
    Handle base(H5Tget_super(type.get()));
    const size_t width = H5Tget_size(base.get());
    const bool is_signed = H5Tget_sign(base.get()) == H5T_SGN_2;
    Handle native(H5Tget_native_type(type.get(), H5T_DIR_ASCEND));
    std::vector<unsigned char> raw(count * width);
    if (H5Dread(dataset, native.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("'", label, "': cannot read enum data"));
    }
    for (size_t i = 0; i < count; ++i) {
      const unsigned char* p = raw.data() + i * width;
      int64_t v = 0;
      if (width == 1) {
        v = is_signed ? static_cast<int8_t>(p[0]) : p[0];
      } else if (width == 2) {
        int16_t s;
        uint16_t u;
        std::memcpy(&s, p, 2);
        std::memcpy(&u, p, 2);
        v = is_signed ? s : u;
      } else if (width == 4) {
        int32_t s;
        uint32_t u;
        std::memcpy(&s, p, 4);
        std::memcpy(&u, p, 4);
        v = is_signed ? s : static_cast<int64_t>(u);
      } else {
        std::memcpy(&v, p, std::min<size_t>(width, 8));
      }
      values[i] = static_cast<T>(v);
    }
    return values;
  }
  return absl::InvalidArgumentError(absl::StrCat("'", label, "': expected numeric data"));
}

absl::StatusOr<std::vector<std::string>> ReadStringDataset(hid_t dataset, const std::string& label) {
  Handle type(H5Dget_type(dataset));
  Handle space(H5Dget_space(dataset));
  const size_t count = SpaceElementCount(space.get());
  if (H5Tget_class(type.get()) != H5T_STRING) {
    // Numeric indices or categories: format the numbers.
    GENAILAB_ASSIGN_OR_RETURN(std::vector<double> numbers,
                              ReadNumericDataset<double>(dataset, H5T_NATIVE_DOUBLE, label));
    std::vector<std::string> out;
    out.reserve(numbers.size());
    for (double v : numbers) out.push_back(absl::StrCat(v));
    return out;
  }
  return ReadStrings(type.get(), count, label, [&](hid_t mem_type, void* buffer) {
    return H5Dread(dataset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
  });
}

absl::StatusOr<std::vector<std::string>> ReadStringDatasetAt(hid_t loc, const std::string& path,
                                                             const std::string& label) {
  GENAILAB_ASSIGN_OR_RETURN(Handle dataset, OpenObject(loc, path, label));
  if (!IsDataset(dataset.get())) {
    return absl::InvalidArgumentError(absl::StrCat("'", label, "': expected a dataset"));
  }
  return ReadStringDataset(dataset.get(), label);
}

std::vector<std::string> GroupMembers(hid_t group) {
  std::vector<std::string> names;
  H5Literate(
      group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  return names;
}

// A dense 2-D numeric dataset as a float matrix.
absl::StatusOr<DenseMatrix> ReadDenseMatrix(hid_t dataset, const std::string& label) {
  std::vector<hsize_t> dims;
  GENAILAB_ASSIGN_OR_RETURN(std::vector<float> values,
                            ReadNumericDataset<float>(dataset, H5T_NATIVE_FLOAT, label, &dims));
  if (dims.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", label, "': expected a 2-D array, got ", dims.size(), " dimensions"));
  }
  DenseMatrix matrix;
  matrix.rows = static_cast<int64_t>(dims[0]);
  matrix.cols = static_cast<int64_t>(dims[1]);
  matrix.values = std::move(values);
  return matrix;
}

absl::StatusOr<DenseMatrix> ReadCsrGroup(hid_t group, const std::string& label) {
  CsrMatrix csr;
  GENAILAB_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadIntArrayAttribute(group, "shape", label));
  if (shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("'", label, "': attribute 'shape' must have 2 entries"));
  }
  csr.rows = shape[0];
  csr.cols = shape[1];
  const std::string data_label = absl::StrCat(label, "/data");
  GENAILAB_ASSIGN_OR_RETURN(Handle data, OpenObject(group, "data", data_label));
  GENAILAB_ASSIGN_OR_RETURN(csr.data, ReadNumericDataset<float>(data.get(), H5T_NATIVE_FLOAT, data_label));
  const std::string indices_label = absl::StrCat(label, "/indices");
  GENAILAB_ASSIGN_OR_RETURN(Handle indices, OpenObject(group, "indices", indices_label));
  GENAILAB_ASSIGN_OR_RETURN(csr.indices,
                            ReadNumericDataset<int64_t>(indices.get(), H5T_NATIVE_INT64, indices_label));
  const std::string indptr_label = absl::StrCat(label, "/indptr");
  GENAILAB_ASSIGN_OR_RETURN(Handle indptr, OpenObject(group, "indptr", indptr_label));
  GENAILAB_ASSIGN_OR_RETURN(csr.indptr,
                            ReadNumericDataset<int64_t>(indptr.get(), H5T_NATIVE_INT64, indptr_label));
  return csr.ToDense(label);
}

// X, raw/X or a layer: a dense dataset or a CSR group.
absl::StatusOr<DenseMatrix> ReadMatrix(hid_t file, const std::string& path) {
  GENAILAB_ASSIGN_OR_RETURN(Handle object, OpenObject(file, path, path));
  if (IsDataset(object.get())) return ReadDenseMatrix(object.get(), path);
  if (!IsGroup(object.get())) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "': neither a dataset nor a group"));
  }
  std::string encoding = EncodingType(object.get(), path);
  if (encoding.empty() && H5Aexists(object.get(), "h5sparse_format") > 0) {
    // anndata < 0.7 marked sparse groups this way.
    GENAILAB_ASSIGN_OR_RETURN(std::string format, ReadStringAttribute(object.get(), "h5sparse_format", path));
    encoding = absl::StrCat(format, "_matrix");
  }
  if (encoding == "csr_matrix") return ReadCsrGroup(object.get(), path);
  if (encoding == "csc_matrix") {
    return absl::UnimplementedError(
        absl::StrCat("'", path, "': CSC matrices are not supported; convert to CSR or dense"));
  }
  return absl::UnimplementedError(absl::StrCat("'", path, "': unsupported matrix encoding '", encoding, "'"));
}

// The parts of a dataframe group genailab keeps.
struct Dataframe {
  std::vector<std::string> index;
  std::map<std::string, std::vector<std::string>> strings;
  std::map<std::string, std::vector<double>> numbers;
};

absl::StatusOr<std::vector<std::string>> ReadCategorical(hid_t group, const std::string& label) {
  GENAILAB_ASSIGN_OR_RETURN(std::vector<std::string> categories,
                            ReadStringDatasetAt(group, "categories", absl::StrCat(label, "/categories")));
  const std::string codes_label = absl::StrCat(label, "/codes");
  GENAILAB_ASSIGN_OR_RETURN(Handle codes_dataset, OpenObject(group, "codes", codes_label));
  GENAILAB_ASSIGN_OR_RETURN(std::vector<int64_t> codes,
                            ReadNumericDataset<int64_t>(codes_dataset.get(), H5T_NATIVE_INT64, codes_label));
  std::vector<std::string> values;
  values.reserve(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) {
    const int64_t code = codes[i];
    if (code == -1) {
      values.emplace_back();  // missing value
    } else if (code < 0 || code >= static_cast<int64_t>(categories.size())) {
      return absl::InvalidArgumentError(absl::StrCat("'", codes_label, "': code ", code, " at row ", i,
                                                     " out of range for ", categories.size(), " categories"));
    } else {
      values.push_back(categories[static_cast<size_t>(code)]);
    }
  }
  return values;
}

// Reads one dataframe column into `frame`. Columns in encodings genailab does not use (e.g. nested
// dataframes) are skipped rather than failing the whole read.
absl::Status ReadDataframeColumn(hid_t group, const std::string& name, const std::string& label,
                                 Dataframe* frame) {
  GENAILAB_ASSIGN_OR_RETURN(Handle column, OpenObject(group, name, label));
  const std::string encoding = EncodingType(column.get(), label);
  if (IsGroup(column.get())) {
    if (encoding == "categorical") {
      GENAILAB_ASSIGN_OR_RETURN(frame->strings[name], ReadCategorical(column.get(), label));
    } else if (absl::StartsWith(encoding, "nullable-")) {
      // anndata >= 0.10 nullable integers/booleans: values plus a mask of missing entries (-> NaN).
      const std::string values_label = absl::StrCat(label, "/values");
      GENAILAB_ASSIGN_OR_RETURN(Handle values_dataset, OpenObject(column.get(), "values", values_label));
      GENAILAB_ASSIGN_OR_RETURN(
          std::vector<double> values,
          ReadNumericDataset<double>(values_dataset.get(), H5T_NATIVE_DOUBLE, values_label));
      const std::string mask_label = absl::StrCat(label, "/mask");
      GENAILAB_ASSIGN_OR_RETURN(Handle mask_dataset, OpenObject(column.get(), "mask", mask_label));
      GENAILAB_ASSIGN_OR_RETURN(
          std::vector<int64_t> mask,
          ReadNumericDataset<int64_t>(mask_dataset.get(), H5T_NATIVE_INT64, mask_label));
      for (size_t i = 0; i < values.size() && i < mask.size(); ++i) {
        if (mask[i] != 0) values[i] = std::numeric_limits<double>::quiet_NaN();
      }
      frame->numbers[name] = std::move(values);
    }
    return absl::OkStatus();
  }
  Handle type(H5Dget_type(column.get()));
  if (H5Tget_class(type.get()) == H5T_STRING) {
    GENAILAB_ASSIGN_OR_RETURN(frame->strings[name], ReadStringDataset(column.get(), label));
  } else {
    GENAILAB_ASSIGN_OR_RETURN(frame->numbers[name],
                              ReadNumericDataset<double>(column.get(), H5T_NATIVE_DOUBLE, label));
  }
  return absl::OkStatus();
}

absl::StatusOr<Dataframe> ReadDataframe(hid_t file, const std::string& path, bool index_only) {
  GENAILAB_ASSIGN_OR_RETURN(Handle group, OpenObject(file, path, path));
  if (!IsGroup(group.get())) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "': expected a dataframe group"));
  }
  Dataframe frame;
  GENAILAB_ASSIGN_OR_RETURN(std::string index_name, ReadStringAttribute(group.get(), "_index", path));
  GENAILAB_ASSIGN_OR_RETURN(
      frame.index, ReadStringDatasetAt(group.get(), index_name, absl::StrCat(path, "/", index_name)));
  if (index_only) return frame;
  std::vector<std::string> columns;
  if (H5Aexists(group.get(), "column-order") > 0) {
    GENAILAB_ASSIGN_OR_RETURN(columns, ReadStringArrayAttribute(group.get(), "column-order", path));
  } else {
    for (std::string& name : GroupMembers(group.get())) {
      if (name != index_name && name != "__categories") columns.push_back(std::move(name));
    }
  }
  for (const std::string& name : columns) {
    GENAILAB_RETURN_IF_ERROR(ReadDataframeColumn(group.get(), name, absl::StrCat(path, "/", name), &frame));
  }
  return frame;
}

// Every dense 2-D array in a dict group (obsm/varm); other members (sparse, dataframes) are skipped.
absl::StatusOr<std::map<std::string, DenseMatrix>> ReadMatrixDict(hid_t file, const std::string& path) {
  std::map<std::string, DenseMatrix> out;
  if (!LinkExists(file, path)) return out;
  GENAILAB_ASSIGN_OR_RETURN(Handle group, OpenObject(file, path, path));
  if (!IsGroup(group.get())) return out;
  for (const std::string& name : GroupMembers(group.get())) {
    const std::string label = absl::StrCat(path, "/", name);
    GENAILAB_ASSIGN_OR_RETURN(Handle member, OpenObject(group.get(), name, label));
    if (!IsDataset(member.get())) continue;
    Handle space(H5Dget_space(member.get()));
    if (H5Sget_simple_extent_ndims(space.get()) != 2) continue;
    GENAILAB_ASSIGN_OR_RETURN(out[name], ReadDenseMatrix(member.get(), label));
  }
  return out;
}

// Top-level string arrays in uns; nested dicts and other types are skipped.
absl::StatusOr<std::map<std::string, std::vector<std::string>>> ReadUnsStrings(hid_t file) {
  std::map<std::string, std::vector<std::string>> out;
  if (!LinkExists(file, "uns")) return out;
  GENAILAB_ASSIGN_OR_RETURN(Handle group, OpenObject(file, "uns", "uns"));
  if (!IsGroup(group.get())) return out;
  for (const std::string& name : GroupMembers(group.get())) {
    const std::string label = absl::StrCat("uns/", name);
    GENAILAB_ASSIGN_OR_RETURN(Handle member, OpenObject(group.get(), name, label));
    if (!IsDataset(member.get())) continue;
    Handle type(H5Dget_type(member.get()));
    Handle space(H5Dget_space(member.get()));
    if (H5Tget_class(type.get()) != H5T_STRING || H5Sget_simple_extent_ndims(space.get()) != 1) continue;
    GENAILAB_ASSIGN_OR_RETURN(out[name], ReadStringDataset(member.get(), label));
  }
  return out;
}

// Where the matrix, its gene names and its gene-level matrices live for a given layer option.
struct LayerPaths {
  std::string matrix;
  std::string var;
  std::string varm;
};

absl::StatusOr<LayerPaths> ResolveLayer(const std::string& layer) {
  if (layer == "X") return LayerPaths{"X", "var", "varm"};
  if (layer == "raw/X") return LayerPaths{"raw/X", "raw/var", "raw/varm"};
  if (absl::StartsWith(layer, "layers/") && layer.size() > 7 && layer.find('/', 7) == std::string::npos) {
    return LayerPaths{layer, "var", "varm"};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("layer: '", layer, "' is not one of \"X\", \"raw/X\" or \"layers/<name>\""));
}

// Everything but the matrix: obs, the layer's gene names, obsm, varm and uns string lists.
absl::Status ReadAnnotations(hid_t f, const LayerPaths& paths, AnnData* data) {
  GENAILAB_ASSIGN_OR_RETURN(Dataframe var, ReadDataframe(f, paths.var, /*index_only=*/true));
  data->var_names = std::move(var.index);
  GENAILAB_ASSIGN_OR_RETURN(Dataframe obs, ReadDataframe(f, "obs", /*index_only=*/false));
  data->obs_names = std::move(obs.index);
  data->obs = std::move(obs.strings);
  data->obs_numeric = std::move(obs.numbers);
  GENAILAB_ASSIGN_OR_RETURN(data->obsm, ReadMatrixDict(f, "obsm"));
  GENAILAB_ASSIGN_OR_RETURN(data->varm, ReadMatrixDict(f, paths.varm));
  GENAILAB_ASSIGN_OR_RETURN(data->uns_strings, ReadUnsStrings(f));

  return absl::OkStatus();
}

absl::StatusOr<AnnData> ReadH5adLocked(const std::string& path, const H5adReadOptions& options)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(hdf5_mutex) {
  GENAILAB_ASSIGN_OR_RETURN(LayerPaths paths, ResolveLayer(options.layer));
  struct stat file_stat;
  if (stat(path.c_str(), &file_stat) != 0) {
    return absl::NotFoundError(absl::StrCat("h5ad file '", path, "' does not exist"));
  }
  ScopedSilenceHdf5Errors silence;
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not an HDF5 file"));
  }
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.valid()) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "': cannot open as HDF5"));
  }
  const hid_t f = file.get();
  AnnData data;
  absl::StatusOr<DenseMatrix> matrix = ReadMatrix(f, paths.matrix);
  if (!matrix.ok()) {
    if (absl::IsNotFound(matrix.status())) {
      return absl::NotFoundError(absl::StrCat("layer '", options.layer, "' not found in '", path, "'"));
    }
    return matrix.status();
  }
  data.x = *std::move(matrix);

  // The layer exists, so anything else missing means a malformed file rather than a missing layer.
  absl::Status rest = ReadAnnotations(f, paths, &data);
  if (absl::IsNotFound(rest)) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not a readable h5ad: ", rest.message()));
  }
  GENAILAB_RETURN_IF_ERROR(rest);
  absl::Status valid = data.Validate();
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is inconsistent: ", valid.message()));
  }
  return data;
}

// ---------------------------------------------------------------------------------------------------
// Writing helpers. Each returns INTERNAL naming the h5ad path on an HDF5 failure.

absl::Status Hdf5Error(const std::string& what, const std::string& label) {
  return absl::InternalError(absl::StrCat("HDF5 failed to ", what, " '", label, "'"));
}

Handle VariableStringType() {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

absl::Status WriteStringAttribute(hid_t object, const std::string& name, const std::string& value,
                                  const std::string& label) {
  Handle type = VariableStringType();
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  const char* data = value.c_str();
  if (!attr.valid() || H5Awrite(attr.get(), type.get(), &data) < 0) {
    return Hdf5Error(absl::StrCat("write attribute ", name, " of"), label);
  }
  return absl::OkStatus();
}

absl::Status WriteStringArrayAttribute(hid_t object, const std::string& name,
                                       const std::vector<std::string>& values, const std::string& label) {
  const hsize_t dims[1] = {values.size()};
  Handle space(H5Screate_simple(1, dims, nullptr));
  // anndata writes an empty list as an empty float64 array; h5py cannot store empty string arrays.
  Handle type = values.empty() ? Handle(H5Tcopy(H5T_IEEE_F64LE)) : VariableStringType();
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid()) return Hdf5Error(absl::StrCat("create attribute ", name, " of"), label);
  if (values.empty()) return absl::OkStatus();
  std::vector<const char*> pointers;
  for (const std::string& v : values) pointers.push_back(v.c_str());
  if (H5Awrite(attr.get(), type.get(), pointers.data()) < 0) {
    return Hdf5Error(absl::StrCat("write attribute ", name, " of"), label);
  }
  return absl::OkStatus();
}

// numpy's bool as h5py stores it: an int8 enum {FALSE = 0, TRUE = 1}.
absl::Status WriteBoolAttribute(hid_t object, const std::string& name, bool value, const std::string& label) {
  Handle type(H5Tenum_create(H5T_NATIVE_INT8));
  int8_t false_value = 0;
  int8_t true_value = 1;
  H5Tenum_insert(type.get(), "FALSE", &false_value);
  H5Tenum_insert(type.get(), "TRUE", &true_value);
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  const int8_t data = value ? 1 : 0;
  if (!attr.valid() || H5Awrite(attr.get(), type.get(), &data) < 0) {
    return Hdf5Error(absl::StrCat("write attribute ", name, " of"), label);
  }
  return absl::OkStatus();
}

absl::Status WriteEncoding(hid_t object, const std::string& type, const std::string& version,
                           const std::string& label) {
  GENAILAB_RETURN_IF_ERROR(WriteStringAttribute(object, "encoding-type", type, label));
  return WriteStringAttribute(object, "encoding-version", version, label);
}

absl::StatusOr<Handle> CreateGroup(hid_t loc, const std::string& name, const std::string& encoding_type,
                                   const std::string& encoding_version, const std::string& label) {
  Handle group(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (!group.valid()) return Hdf5Error("create group", label);
  GENAILAB_RETURN_IF_ERROR(WriteEncoding(group.get(), encoding_type, encoding_version, label));
  return group;
}

// A numeric array dataset with encoding "array"; `file_type` is the on-disk type, `mem_type` the type of
// `data`.
absl::Status WriteArray(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, hid_t file_type,
                        hid_t mem_type, const void* data, const std::string& label) {
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  Handle dataset(
      H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (!dataset.valid()) return Hdf5Error("create dataset", label);
  if (SpaceElementCount(space.get()) > 0 &&
      H5Dwrite(dataset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    return Hdf5Error("write dataset", label);
  }
  return WriteEncoding(dataset.get(), "array", "0.2.0", label);
}

absl::Status WriteDenseMatrix(hid_t loc, const std::string& name, const DenseMatrix& matrix,
                              const std::string& label) {
  return WriteArray(loc, name, {static_cast<hsize_t>(matrix.rows), static_cast<hsize_t>(matrix.cols)},
                    H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, matrix.values.data(), label);
}

absl::Status WriteStringArray(hid_t loc, const std::string& name, const std::vector<std::string>& values,
                              const std::string& label) {
  Handle type = VariableStringType();
  const hsize_t dims[1] = {values.size()};
  Handle space(H5Screate_simple(1, dims, nullptr));
  Handle dataset(
      H5Dcreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (!dataset.valid()) return Hdf5Error("create dataset", label);
  std::vector<const char*> pointers;
  for (const std::string& v : values) pointers.push_back(v.c_str());
  if (!values.empty() &&
      H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0) {
    return Hdf5Error("write dataset", label);
  }
  return WriteEncoding(dataset.get(), "string-array", "0.2.0", label);
}

// A string column as a pandas categorical: sorted unique categories, "" written as missing (code -1).
absl::Status WriteCategorical(hid_t loc, const std::string& name, const std::vector<std::string>& values,
                              const std::string& label) {
  GENAILAB_ASSIGN_OR_RETURN(Handle group, CreateGroup(loc, name, "categorical", "0.2.0", label));
  GENAILAB_RETURN_IF_ERROR(WriteBoolAttribute(group.get(), "ordered", false, label));
  std::set<std::string> unique(values.begin(), values.end());
  unique.erase("");
  const std::vector<std::string> categories(unique.begin(), unique.end());
  std::map<std::string, int32_t> code_of;
  for (size_t i = 0; i < categories.size(); ++i) code_of[categories[i]] = static_cast<int32_t>(i);
  std::vector<int32_t> codes;
  codes.reserve(values.size());
  for (const std::string& v : values) codes.push_back(v.empty() ? -1 : code_of[v]);
  GENAILAB_RETURN_IF_ERROR(
      WriteStringArray(group.get(), "categories", categories, absl::StrCat(label, "/categories")));
  return WriteArray(group.get(), "codes", {codes.size()}, H5T_STD_I32LE, H5T_NATIVE_INT32, codes.data(),
                    absl::StrCat(label, "/codes"));
}

// Names become HDF5 link names, so they must be non-empty and free of '/'.
absl::Status CheckKey(const std::string& key, const std::string& field) {
  if (key.empty() || key.find('/') != std::string::npos || key == ".") {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": key '", key, "' must be non-empty and must not contain '/'"));
  }
  return absl::OkStatus();
}

// Index names default to "0", "1", ... as anndata's do.
std::vector<std::string> IndexOrDefault(const std::vector<std::string>& names, int64_t n) {
  if (!names.empty()) return names;
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(absl::StrCat(i));
  return out;
}

absl::Status WriteDataframe(hid_t file, const std::string& path, const std::vector<std::string>& index,
                            const std::map<std::string, std::vector<std::string>>& strings,
                            const std::map<std::string, std::vector<double>>& numbers) {
  std::vector<std::string> column_order;
  for (const auto& entry : strings) {
    GENAILAB_RETURN_IF_ERROR(CheckKey(entry.first, path));
    column_order.push_back(entry.first);
  }
  for (const auto& entry : numbers) {
    GENAILAB_RETURN_IF_ERROR(CheckKey(entry.first, path));
    if (strings.count(entry.first) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": column '", entry.first, "' is both a string and a numeric column"));
    }
    column_order.push_back(entry.first);
  }
  if (std::find(column_order.begin(), column_order.end(), "_index") != column_order.end()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": column name '_index' is reserved"));
  }
  GENAILAB_ASSIGN_OR_RETURN(Handle group, CreateGroup(file, path, "dataframe", "0.2.0", path));
  GENAILAB_RETURN_IF_ERROR(WriteStringAttribute(group.get(), "_index", "_index", path));
  GENAILAB_RETURN_IF_ERROR(WriteStringArrayAttribute(group.get(), "column-order", column_order, path));
  GENAILAB_RETURN_IF_ERROR(WriteStringArray(group.get(), "_index", index, absl::StrCat(path, "/_index")));
  for (const auto& [name, values] : strings) {
    GENAILAB_RETURN_IF_ERROR(WriteCategorical(group.get(), name, values, absl::StrCat(path, "/", name)));
  }
  for (const auto& [name, values] : numbers) {
    GENAILAB_RETURN_IF_ERROR(WriteArray(group.get(), name, {values.size()}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                                        values.data(), absl::StrCat(path, "/", name)));
  }
  return absl::OkStatus();
}

absl::Status WriteMatrixDict(hid_t file, const std::string& path,
                             const std::map<std::string, DenseMatrix>& matrices) {
  GENAILAB_ASSIGN_OR_RETURN(Handle group, CreateGroup(file, path, "dict", "0.1.0", path));
  for (const auto& [name, matrix] : matrices) {
    GENAILAB_RETURN_IF_ERROR(CheckKey(name, path));
    GENAILAB_RETURN_IF_ERROR(WriteDenseMatrix(group.get(), name, matrix, absl::StrCat(path, "/", name)));
  }
  return absl::OkStatus();
}

absl::Status WriteH5adLocked(const std::string& path, const AnnData& data)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(hdf5_mutex) {
  GENAILAB_RETURN_IF_ERROR(data.Validate());
  // Check every key before creating the file, so that a bad key leaves no half-written file behind.
  for (const auto& entry : data.uns_strings) GENAILAB_RETURN_IF_ERROR(CheckKey(entry.first, "uns"));
  for (const auto& entry : data.obsm) GENAILAB_RETURN_IF_ERROR(CheckKey(entry.first, "obsm"));
  for (const auto& entry : data.varm) GENAILAB_RETURN_IF_ERROR(CheckKey(entry.first, "varm"));
  for (const auto& entry : data.obs) GENAILAB_RETURN_IF_ERROR(CheckKey(entry.first, "obs"));
  for (const auto& entry : data.obs_numeric) GENAILAB_RETURN_IF_ERROR(CheckKey(entry.first, "obs"));

  ScopedSilenceHdf5Errors silence;
  Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!file.valid()) return Hdf5Error("create file", path);
  const hid_t f = file.get();
  GENAILAB_RETURN_IF_ERROR(WriteEncoding(f, "anndata", "0.1.0", "/"));
  GENAILAB_RETURN_IF_ERROR(WriteDenseMatrix(f, "X", data.x, "X"));
  GENAILAB_RETURN_IF_ERROR(
      WriteDataframe(f, "obs", IndexOrDefault(data.obs_names, data.n_obs()), data.obs, data.obs_numeric));
  GENAILAB_RETURN_IF_ERROR(WriteDataframe(f, "var", IndexOrDefault(data.var_names, data.n_vars()), {}, {}));
  GENAILAB_RETURN_IF_ERROR(WriteMatrixDict(f, "obsm", data.obsm));
  GENAILAB_RETURN_IF_ERROR(WriteMatrixDict(f, "varm", data.varm));
  for (const char* empty : {"layers", "obsp", "varp"}) {
    GENAILAB_ASSIGN_OR_RETURN(Handle group, CreateGroup(f, empty, "dict", "0.1.0", empty));
  }
  GENAILAB_ASSIGN_OR_RETURN(Handle uns, CreateGroup(f, "uns", "dict", "0.1.0", "uns"));
  for (const auto& [name, values] : data.uns_strings) {
    GENAILAB_RETURN_IF_ERROR(WriteStringArray(uns.get(), name, values, absl::StrCat("uns/", name)));
  }
  if (H5Fflush(f, H5F_SCOPE_LOCAL) < 0) return Hdf5Error("flush", path);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AnnData> ReadH5ad(const std::string& path, const H5adReadOptions& options) {
  absl::MutexLock lock(&hdf5_mutex);
  return ReadH5adLocked(path, options);
}

absl::Status WriteH5ad(const std::string& path, const AnnData& data) {
  absl::MutexLock lock(&hdf5_mutex);
  return WriteH5adLocked(path, data);
}

}  // namespace genailab
