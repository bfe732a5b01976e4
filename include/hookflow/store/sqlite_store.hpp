#pragma once

#include <memory>
#include <string>

#include <hookflow/common/clock.hpp>
#include <hookflow/common/result.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::store {

struct SqliteOptions {
    std::string path;
    int busy_timeout_ms = 2000;
    int max_batch = 256;  // most write requests committed in one transaction
};

/// Opens (creating the folder and file when missing) a SQLite store in WAL mode with
/// synchronous=FULL, applies numbered migrations, and starts the writer thread.
/// Errc::store_unavailable when the file cannot be opened or migrated.
Result<std::unique_ptr<Store>> open_sqlite(const SqliteOptions& options, const Clock& clock);

}  // namespace hookflow::store
