#include "data/h5ad_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdlib>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

// $GENAILAB_SHARED_DIR/data/pbmc68k_reduced.h5ad, or "" when unavailable.
std::string PbmcPath() {
  const char* shared = std::getenv("GENAILAB_SHARED_DIR");
  if (shared == nullptr || *shared == '\0') return "";
  const std::string path = absl::StrCat(shared, "/data/pbmc68k_reduced.h5ad");
  return std::ifstream(path).good() ? path : "";
}

#define SKIP_WITHOUT_PBMC(path)                                                                   \
  if (path.empty()) {                                                                             \
    GTEST_SKIP() << "pbmc68k_reduced.h5ad unavailable: set GENAILAB_SHARED_DIR to the absolute "  \
                    "path of the shared/ folder (bazel test --test_env=GENAILAB_SHARED_DIR=...)"; \
  }

// Expected values below were computed once with anndata 0.8 (/usr/bin/python3):
//   a = anndata.read_h5ad(path); a.X[0, 0], a.X[1, 2], a.raw.X[0].sum(), a.raw.X[699].sum(), ...
TEST(H5adIoTest, ReadsPbmcDenseX) {
  const std::string path = PbmcPath();
  SKIP_WITHOUT_PBMC(path);
  absl::StatusOr<AnnData> data = ReadH5ad(path);
  ASSERT_THAT(data, IsOk());
  EXPECT_EQ(data->n_obs(), 700);
  EXPECT_EQ(data->n_vars(), 765);
  EXPECT_NEAR(data->x.at(0, 0), -0.326, 1e-4);
  EXPECT_NEAR(data->x.at(1, 2), 0.795, 1e-4);
  EXPECT_EQ(data->obs_names[0], "AAAGCCTGGCTAAC-1");
  EXPECT_EQ(data->var_names[0], "HES4");

  ASSERT_EQ(data->obs.count("bulk_labels"), 1u);
  const std::vector<std::string>& labels = data->obs.at("bulk_labels");
  EXPECT_EQ(std::set<std::string>(labels.begin(), labels.end()).size(), 10u);
  EXPECT_EQ(labels[0], "CD14+ Monocyte");
  EXPECT_EQ(data->obs.at("phase")[0], "G1");
  EXPECT_EQ(data->obs.at("louvain")[0], "1");
  ASSERT_EQ(data->obs_numeric.count("n_genes"), 1u);  // int64 column
  EXPECT_EQ(data->obs_numeric.at("n_genes")[0], 1003);
  EXPECT_NEAR(data->obs_numeric.at("percent_mito")[0], 0.0238560810, 1e-7);  // float32 column

  ASSERT_EQ(data->obsm.count("X_umap"), 1u);  // float64 on disk
  EXPECT_EQ(data->obsm.at("X_umap").rows, 700);
  EXPECT_EQ(data->obsm.at("X_umap").cols, 2);
  EXPECT_NEAR(data->obsm.at("X_umap").at(0, 1), 8.57641706, 1e-4);
  EXPECT_EQ(data->obsm.at("X_pca").cols, 50);
  ASSERT_EQ(data->varm.count("PCs"), 1u);
  EXPECT_NEAR(data->varm.at("PCs").at(0, 0), -0.0609413236, 1e-6);
  ASSERT_EQ(data->uns_strings.count("bulk_labels_colors"), 1u);
  EXPECT_THAT(data->uns_strings.at("bulk_labels_colors")[0], "#1f77b4");
}

TEST(H5adIoTest, ReadsPbmcRawXFromCsr) {
  const std::string path = PbmcPath();
  SKIP_WITHOUT_PBMC(path);
  {
    // The premise: raw/X is stored sparse (a CSR group), unlike X.
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    hid_t raw_x = H5Oopen(file, "raw/X", H5P_DEFAULT);
    EXPECT_EQ(H5Iget_type(raw_x), H5I_GROUP);
    H5Oclose(raw_x);
    H5Fclose(file);
  }
  H5adReadOptions options;
  options.layer = "raw/X";
  absl::StatusOr<AnnData> data = ReadH5ad(path, options);
  ASSERT_THAT(data, IsOk());
  EXPECT_EQ(data->n_obs(), 700);
  EXPECT_EQ(data->n_vars(), 765);
  EXPECT_EQ(data->var_names[1], "TNFRSF4");
  auto row_sum = [&](int64_t r) {
    return std::accumulate(data->x.row(r), data->x.row(r) + data->n_vars(), 0.0);
  };
  EXPECT_NEAR(row_sum(0), 456.88348, 1e-2);
  EXPECT_NEAR(row_sum(699), 513.02271, 1e-2);
  const double total = std::accumulate(data->x.values.begin(), data->x.values.end(), 0.0);
  EXPECT_NEAR(total, 319044.25, 1.0);
  EXPECT_EQ(data->obs.at("bulk_labels").size(), 700u);
}

TEST(H5adIoTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadH5ad(TempPath("does_not_exist.h5ad")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("does_not_exist.h5ad")));
}

TEST(H5adIoTest, NonHdf5FileIsInvalidArgument) {
  const std::string path = TempPath("not_hdf5.h5ad");
  std::ofstream(path) << "hello";
  EXPECT_THAT(ReadH5ad(path), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an HDF5 file")));
}

AnnData SmallData() {
  AnnData data;
  data.x = DenseMatrix(3, 2);
  data.x.values = {1.5f, 0, -2, 3, 4.25f, 1e-3f};
  data.obs_names = {"cell_a", "cell_b", "cell_c"};
  data.var_names = {"CD3E", "MS4A1"};
  data.obs["cell_type"] = {"T", "B", "T"};
  data.obs["donor"] = {"d1", "", "d2"};  // "" is written as a missing category
  data.obs_numeric["n_counts"] = {10.5, 0, 1e6};
  data.obsm["X_latent"] = DenseMatrix(3, 2);
  data.obsm["X_latent"].values = {1, 2, 3, 4, 5, 6};
  data.varm["true_log_fold_change"] = DenseMatrix(2, 3);
  data.varm["true_log_fold_change"].values = {0.5f, -1, 0, 2, 0, 0.25f};
  data.uns_strings["true_log_fold_change_cell_types"] = {"type_0", "type_1", "type_2"};
  return data;
}

TEST(H5adIoTest, WriteThenReadRoundTrips) {
  const std::string path = TempPath("round_trip.h5ad");
  const AnnData data = SmallData();
  ASSERT_THAT(WriteH5ad(path, data), IsOk());
  absl::StatusOr<AnnData> read = ReadH5ad(path);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->x.rows, 3);
  EXPECT_EQ(read->x.cols, 2);
  EXPECT_EQ(read->x.values, data.x.values);
  EXPECT_EQ(read->obs_names, data.obs_names);
  EXPECT_EQ(read->var_names, data.var_names);
  EXPECT_EQ(read->obs, data.obs);
  EXPECT_EQ(read->obs_numeric, data.obs_numeric);
  ASSERT_EQ(read->obsm.count("X_latent"), 1u);
  EXPECT_EQ(read->obsm.at("X_latent").values, data.obsm.at("X_latent").values);
  ASSERT_EQ(read->varm.count("true_log_fold_change"), 1u);
  EXPECT_EQ(read->varm.at("true_log_fold_change").cols, 3);
  EXPECT_EQ(read->varm.at("true_log_fold_change").values, data.varm.at("true_log_fold_change").values);
  EXPECT_EQ(read->uns_strings, data.uns_strings);
}

TEST(H5adIoTest, WritesDefaultNamesWhenUnnamedAndOverwrites) {
  const std::string path = TempPath("unnamed.h5ad");
  ASSERT_THAT(WriteH5ad(path, SmallData()), IsOk());
  AnnData data;
  data.x = DenseMatrix(2, 1);
  ASSERT_THAT(WriteH5ad(path, data), IsOk());
  absl::StatusOr<AnnData> read = ReadH5ad(path);
  ASSERT_THAT(read, IsOk());
  EXPECT_THAT(read->obs_names, ElementsAre("0", "1"));
  EXPECT_THAT(read->var_names, ElementsAre("0"));
  EXPECT_TRUE(read->obs.empty());
}

TEST(H5adIoTest, WriteRejectsInvalidData) {
  AnnData data = SmallData();
  data.obs["cell_type"].pop_back();
  EXPECT_THAT(WriteH5ad(TempPath("invalid.h5ad"), data),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs['cell_type']")));
  data = SmallData();
  data.obsm["a/b"] = DenseMatrix(3, 1);
  EXPECT_THAT(WriteH5ad(TempPath("invalid.h5ad"), data),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obsm: key 'a/b'")));
  data = SmallData();
  data.obs_numeric["cell_type"] = {1, 2, 3};
  EXPECT_THAT(WriteH5ad(TempPath("invalid.h5ad"), data),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("both a string and a numeric")));
}

TEST(H5adIoTest, WriteToMissingFolderIsInternal) {
  EXPECT_THAT(WriteH5ad(TempPath("no/such/folder/x.h5ad"), SmallData()),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("create file")));
}

// Adds a sparse group /layers/<name> with the given encoding to an existing file, with deliberately
// mixed integer/float widths (int32 data, int64 indices, int32 indptr) as scipy may produce.
void AddSparseLayer(const std::string& path, const std::string& name, const std::string& encoding,
                    int64_t rows, int64_t cols, const std::vector<int32_t>& data,
                    const std::vector<int64_t>& indices, const std::vector<int32_t>& indptr) {
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t group =
      H5Gcreate2(file, absl::StrCat("layers/", name).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(group, 0);
  hid_t str_type = H5Tcopy(H5T_C_S1);
  H5Tset_size(str_type, H5T_VARIABLE);
  hid_t scalar = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(group, "encoding-type", str_type, scalar, H5P_DEFAULT, H5P_DEFAULT);
  const char* encoding_c = encoding.c_str();
  H5Awrite(attr, str_type, &encoding_c);
  H5Aclose(attr);
  const hsize_t two = 2;
  hid_t shape_space = H5Screate_simple(1, &two, nullptr);
  attr = H5Acreate2(group, "shape", H5T_STD_I64LE, shape_space, H5P_DEFAULT, H5P_DEFAULT);
  const int64_t shape[2] = {rows, cols};
  H5Awrite(attr, H5T_NATIVE_INT64, shape);
  H5Aclose(attr);
  auto write = [&](const char* dataset_name, hid_t file_type, hid_t mem_type, const void* values, size_t n) {
    const hsize_t dims = n;
    hid_t space = H5Screate_simple(1, &dims, nullptr);
    hid_t dataset = H5Dcreate2(group, dataset_name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(dataset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(dataset);
    H5Sclose(space);
  };
  write("data", H5T_STD_I32LE, H5T_NATIVE_INT32, data.data(), data.size());
  write("indices", H5T_STD_I64LE, H5T_NATIVE_INT64, indices.data(), indices.size());
  write("indptr", H5T_STD_I32LE, H5T_NATIVE_INT32, indptr.data(), indptr.size());
  H5Sclose(shape_space);
  H5Sclose(scalar);
  H5Tclose(str_type);
  H5Gclose(group);
  H5Fclose(file);
}

TEST(H5adIoTest, ReadsCsrLayerOfAnyWidth) {
  const std::string path = TempPath("csr_layer.h5ad");
  ASSERT_THAT(WriteH5ad(path, SmallData()), IsOk());
  AddSparseLayer(path, "counts", "csr_matrix", 3, 2, {7, 8, 9}, {1, 0, 1}, {0, 1, 1, 3});
  H5adReadOptions options;
  options.layer = "layers/counts";
  absl::StatusOr<AnnData> read = ReadH5ad(path, options);
  ASSERT_THAT(read, IsOk());
  EXPECT_THAT(read->x.values, ElementsAre(0, 7, 0, 0, 8, 9));
  EXPECT_EQ(read->var_names, SmallData().var_names);
}

TEST(H5adIoTest, RejectsCorruptCsrLayer) {
  const std::string path = TempPath("bad_csr_layer.h5ad");
  ASSERT_THAT(WriteH5ad(path, SmallData()), IsOk());
  AddSparseLayer(path, "counts", "csr_matrix", 3, 2, {7, 8, 9}, {1, 0, 5}, {0, 1, 1, 3});
  H5adReadOptions options;
  options.layer = "layers/counts";
  EXPECT_THAT(ReadH5ad(path, options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layers/counts.indices: column 5")));
}

TEST(H5adIoTest, CscLayerIsUnimplemented) {
  const std::string path = TempPath("csc_layer.h5ad");
  ASSERT_THAT(WriteH5ad(path, SmallData()), IsOk());
  AddSparseLayer(path, "counts", "csc_matrix", 3, 2, {7, 8, 9}, {1, 0, 1}, {0, 1, 3});
  H5adReadOptions options;
  options.layer = "layers/counts";
  EXPECT_THAT(ReadH5ad(path, options),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("CSC matrices are not supported")));
}

TEST(H5adIoTest, MissingLayerIsNotFoundAndBadLayerIsInvalid) {
  const std::string path = TempPath("layers.h5ad");
  ASSERT_THAT(WriteH5ad(path, SmallData()), IsOk());
  H5adReadOptions options;
  options.layer = "layers/counts";
  EXPECT_THAT(ReadH5ad(path, options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("layer 'layers/counts' not found")));
  options.layer = "raw/X";
  EXPECT_THAT(ReadH5ad(path, options), StatusIs(absl::StatusCode::kNotFound, HasSubstr("raw/X")));
  options.layer = "obsm/X_latent";
  EXPECT_THAT(ReadH5ad(path, options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layer: 'obsm/X_latent'")));
}

}  // namespace
}  // namespace genailab
