// Status propagation macros. Abseil 20220623 (Debian 12) ships no ABSL_RETURN_IF_ERROR, so this small
// header provides the two that the codebase uses. Both evaluate their argument exactly once.
#ifndef GENAILAB_COMMON_STATUS_MACROS_H_
#define GENAILAB_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the calling function with the status if `expr` (an absl::Status) is not OK.
#define GENAILAB_RETURN_IF_ERROR(expr)                 \
  do {                                                 \
    const ::absl::Status genailab_status_ = (expr);    \
    if (!genailab_status_.ok()) return genailab_status_; \
  } while (0)

#define GENAILAB_STATUS_CONCAT_INNER_(a, b) a##b
#define GENAILAB_STATUS_CONCAT_(a, b) GENAILAB_STATUS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status, otherwise moves the value into
// `lhs`, which may be a declaration (`auto x`) or an existing variable.
#define GENAILAB_ASSIGN_OR_RETURN(lhs, rexpr) \
  GENAILAB_ASSIGN_OR_RETURN_IMPL_(GENAILAB_STATUS_CONCAT_(genailab_statusor_, __LINE__), lhs, rexpr)

#define GENAILAB_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = std::move(statusor).value()

#endif  // GENAILAB_COMMON_STATUS_MACROS_H_
