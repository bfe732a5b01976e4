#pragma once

#include <cstdint>
#include <string>

#include <hookflow/common/result.hpp>

// Operator commands on a SQLite database file: `hookflow db backup` and `hookflow db vacuum`.
// Both work beside a running server.
namespace hookflow::store {

/// What a backup holds.
struct BackupSummary {
    std::int64_t events = 0;
    std::int64_t runs = 0;
    std::int64_t bytes = 0;  // size of the backup file
};

/// Copies the database at `db_path` to the new file `target` with SQLite's online backup, from
/// one snapshot taken when it starts (so it holds every commit made before it began and none
/// after), in chunks, while a server keeps writing. The backup is one self-contained file.
/// Errc::not_found when the database does not exist, Errc::invalid_config when `target`
/// already exists, Errc::store_unavailable when SQLite fails (the partial file is removed).
Result<BackupSummary> backup_sqlite(const std::string& db_path,
                                    const std::string& target,
                                    int busy_timeout_ms);

/// Sizes of the database file plus its WAL, before and after a vacuum.
struct VacuumSummary {
    std::int64_t bytes_before = 0;
    std::int64_t bytes_after = 0;
};

/// Rebuilds the database file to return the space of deleted rows (VACUUM), then truncates
/// the WAL. Writers wait while it runs. Errc::not_found when the database does not exist,
/// Errc::store_unavailable when SQLite fails (busy past `busy_timeout_ms`, disk full).
Result<VacuumSummary> vacuum_sqlite(const std::string& db_path, int busy_timeout_ms);

}  // namespace hookflow::store
