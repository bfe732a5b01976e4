#pragma once

#include <cstdint>

#include "sqlite_db.hpp"
#include <hookflow/common/result.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::store::detail {

/// One retention batch inside the writer's transaction: up to `max_rows` finished runs last
/// updated before `cutoff_ms` (with their steps), then up to `max_rows` events received
/// before `cutoff_ms` that have no run left.
Result<PurgeResult> purge_batch(Connection& db, std::int64_t cutoff_ms, int max_rows);

}  // namespace hookflow::store::detail
