"""Re-exports Bazel 4's native C++ rules under @rules_cc (Debian's bazel-rules-cc is too new for Bazel 4)."""

cc_library = native.cc_library
cc_binary = native.cc_binary
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
cc_import = native.cc_import
cc_proto_library = native.cc_proto_library
