#include "maintenance.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <hookflow/store/maintenance.hpp>

namespace hookflow::store {

void Store::purge_finished(std::int64_t, int, Callback<PurgeResult> done) {
    done(make_error(Errc::internal, "this store does not support retention"));
}

namespace detail {

namespace {

// Runs that will not change again: `failed` is waiting for its next attempt, so it stays.
constexpr const char* kExpiredRuns =
    "SELECT id FROM runs WHERE status IN ('succeeded', 'dead', 'stale', 'cancelled') "
    "AND updated_at_ms < ?1 LIMIT ?2";
constexpr const char* kDeleteSteps = "DELETE FROM steps WHERE run_id = ?1";
constexpr const char* kDeleteRun = "DELETE FROM runs WHERE id = ?1";
constexpr const char* kExpiredEvents =
    "SELECT id FROM events WHERE received_at_ms < ?1 "
    "AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.event_id = events.id) LIMIT ?2";
constexpr const char* kDeleteEvent = "DELETE FROM events WHERE id = ?1";

Result<std::vector<std::string>> select_ids(Connection& db,
                                            const char* sql,
                                            std::int64_t cutoff_ms,
                                            int max_rows) {
    std::vector<std::string> ids;
    auto query = db.query(sql);
    query.bind(1, cutoff_ms).bind(2, std::int64_t{max_rows});
    while (query.row()) {
        ids.push_back(query.text(0));
    }
    if (auto status = query.status(); !status) {
        return status.error();
    }
    return ids;
}

Result<void> delete_by_id(Connection& db, const char* sql, const std::string& id) {
    auto query = db.query(sql);
    query.bind(1, id);
    return query.run();
}

}  // namespace

// Limitation: workflow definitions no run refers to any more are kept (they are few and small).
// Limitation: a deleted run no longer counts for staleness guards; an event older than the
// retention that arrives late is compared only with the runs still stored.
Result<PurgeResult> purge_batch(Connection& db, std::int64_t cutoff_ms, int max_rows) {
    PurgeResult result;
    auto runs = select_ids(db, kExpiredRuns, cutoff_ms, max_rows);
    if (!runs) {
        return runs.error();
    }
    for (const auto& id : *runs) {
        if (auto done = delete_by_id(db, kDeleteSteps, id); !done) {
            return done.error();
        }
        if (auto done = delete_by_id(db, kDeleteRun, id); !done) {
            return done.error();
        }
    }
    result.runs = static_cast<int>(runs->size());

    // Events whose runs were deleted above (or that never started one) go in the same batch.
    auto events = select_ids(db, kExpiredEvents, cutoff_ms, max_rows);
    if (!events) {
        return events.error();
    }
    for (const auto& id : *events) {
        if (auto done = delete_by_id(db, kDeleteEvent, id); !done) {
            return done.error();
        }
    }
    result.events = static_cast<int>(events->size());
    return result;
}

}  // namespace detail

namespace {

// Pages copied per backup step: 1 MiB with SQLite's default page size.
constexpr int kPagesPerStep = 256;
constexpr int kBusyRetries = 200;
constexpr int kBusyPauseMs = 25;

struct CloseDb {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, CloseDb>;

Error sqlite_failure(sqlite3* db, const std::string& what) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    return make_error(Errc::store_unavailable, what + ": " + message, "store unavailable");
}

Result<DbHandle> open_file(const std::string& path, int flags, int busy_timeout_ms) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    DbHandle db(raw);
    if (rc != SQLITE_OK) {
        return sqlite_failure(db.get(), "cannot open " + path);
    }
    sqlite3_busy_timeout(db.get(), busy_timeout_ms);
    return db;
}

Result<void> exec(sqlite3* db, const char* sql, const std::string& what) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
        return sqlite_failure(db, what);
    }
    return {};
}

Result<std::int64_t> count_rows(sqlite3* db, const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
        return sqlite_failure(db, "cannot count rows");
    }
    std::int64_t count = 0;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        count = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) {
        return sqlite_failure(db, "cannot count rows");
    }
    return count;
}

std::int64_t size_of(const std::string& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    return ec ? 0 : static_cast<std::int64_t>(size);
}

Result<void> require_database(const std::string& db_path) {
    std::error_code ec;
    if (!std::filesystem::exists(db_path, ec)) {
        return make_error(Errc::not_found,
                          "no database at " + db_path +
                              " (storage.sqlite; has the server run with this config?)");
    }
    return {};
}

/// Creates `target` empty, failing when it exists (O_EXCL: no race with another backup).
Result<void> create_new_file(const std::string& target) {
    int fd = ::open(target.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        if (err == EEXIST) {
            return make_error(Errc::invalid_config,
                              target + " already exists; a backup never overwrites a file");
        }
        return make_error(Errc::store_unavailable,
                          "cannot create " + target + ": " + std::strerror(err));
    }
    ::close(fd);
    return {};
}

/// Copies every page of `src` (inside its open read transaction) into `dest`.
Result<void> copy_pages(sqlite3* src, sqlite3* dest) {
    sqlite3_backup* backup = sqlite3_backup_init(dest, "main", src, "main");
    if (backup == nullptr) {
        return sqlite_failure(dest, "cannot start the backup");
    }
    int rc = SQLITE_OK;
    int busy = 0;
    while (true) {
        rc = sqlite3_backup_step(backup, kPagesPerStep);
        if (rc == SQLITE_DONE) {
            break;
        }
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++busy < kBusyRetries) {
            sqlite3_sleep(kBusyPauseMs);
            continue;
        }
        if (rc != SQLITE_OK) {
            break;
        }
    }
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) {
        return make_error(Errc::store_unavailable,
                          std::string("backup failed: ") + sqlite3_errstr(rc),
                          "store unavailable");
    }
    return {};
}

/// Makes the copy one self-contained file (no WAL beside it) and counts what it holds.
Result<BackupSummary> finish_copy(sqlite3* dest, const std::string& target) {
    if (auto done = exec(dest, "PRAGMA journal_mode=DELETE", "cannot finish " + target); !done) {
        return done.error();
    }
    BackupSummary summary;
    auto events = count_rows(dest, "SELECT count(*) FROM events");
    auto runs = count_rows(dest, "SELECT count(*) FROM runs");
    if (!events || !runs) {
        return !events ? events.error() : runs.error();
    }
    summary.events = *events;
    summary.runs = *runs;
    return summary;
}

Result<BackupSummary> run_backup(const std::string& db_path,
                                 const std::string& target,
                                 int busy_timeout_ms) {
    auto src = open_file(db_path, SQLITE_OPEN_READWRITE, busy_timeout_ms);
    if (!src) {
        return src.error();
    }
    // One read transaction for the whole copy: the backup reads one snapshot, and commits the
    // server makes meanwhile (to the WAL) neither block it nor make it start over.
    auto snapshot =
        exec(src->get(), "BEGIN; SELECT count(*) FROM sqlite_master;", "cannot read " + db_path);
    if (!snapshot) {
        return snapshot.error();
    }
    auto dest = open_file(target, SQLITE_OPEN_READWRITE, busy_timeout_ms);
    if (!dest) {
        return dest.error();
    }
    auto copied = copy_pages(src->get(), dest->get());
    (void)exec(src->get(), "COMMIT", "end of backup");
    if (!copied) {
        return copied.error();
    }
    return finish_copy(dest->get(), target);
}

void remove_partial(const std::string& target) {
    std::error_code ec;
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
        std::filesystem::remove(target + suffix, ec);
    }
}

}  // namespace

Result<BackupSummary> backup_sqlite(const std::string& db_path,
                                    const std::string& target,
                                    int busy_timeout_ms) {
    if (auto found = require_database(db_path); !found) {
        return found.error();
    }
    if (auto created = create_new_file(target); !created) {
        return created.error();
    }
    auto summary = run_backup(db_path, target, busy_timeout_ms);
    if (!summary) {
        remove_partial(target);
        return summary;
    }
    summary->bytes = size_of(target);
    return summary;
}

Result<VacuumSummary> vacuum_sqlite(const std::string& db_path, int busy_timeout_ms) {
    if (auto found = require_database(db_path); !found) {
        return found.error();
    }
    VacuumSummary summary;
    summary.bytes_before = size_of(db_path) + size_of(db_path + "-wal");
    {
        auto db = open_file(db_path, SQLITE_OPEN_READWRITE, busy_timeout_ms);
        if (!db) {
            return db.error();
        }
        if (auto done = exec(db->get(), "VACUUM", "vacuum of " + db_path); !done) {
            return done.error();
        }
        // VACUUM wrote the new pages to the WAL; move them into the file and empty the WAL.
        (void)exec(db->get(), "PRAGMA wal_checkpoint(TRUNCATE)", "checkpoint of " + db_path);
    }
    summary.bytes_after = size_of(db_path) + size_of(db_path + "-wal");
    return summary;
}

}  // namespace hookflow::store
