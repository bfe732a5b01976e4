#pragma once

#include <cstdint>

#include "sqlite_db.hpp"
#include <hookflow/common/result.hpp>

namespace hookflow::store::detail {

/// Applies, in order and each in its own transaction, the numbered migrations that
/// schema_migrations does not list yet. Errc::store_unavailable when one fails.
Result<void> apply_migrations(Connection& db, std::int64_t now_ms);

}  // namespace hookflow::store::detail
