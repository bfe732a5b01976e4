#include "migrations.hpp"

#include <string>

#include <spdlog/spdlog.h>

#include <hookflow/common/log.hpp>

namespace hookflow::store::detail {

namespace {

// Log field for the schema version; local until log.hpp gains one.
constexpr std::string_view kVersionField = "version";

struct Migration {
    int version;
    const char* sql;
};

// Append only: a released migration is never edited, a change is a new number.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    provider TEXT NOT NULL,
    delivery_id TEXT,
    type TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    headers_json TEXT NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (source, delivery_id)
);
CREATE TABLE workflow_definitions (
    hash TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    definition TEXT NOT NULL
);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events(id),
    workflow TEXT NOT NULL,
    workflow_hash TEXT NOT NULL REFERENCES workflow_definitions(hash),
    status TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'stale', 'cancelled')),
    attempt INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_expires_at_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX runs_claim ON runs (status, next_attempt_at_ms);
CREATE INDEX runs_event ON runs (event_id);
CREATE TABLE steps (
    run_id TEXT NOT NULL REFERENCES runs(id),
    step_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at_ms INTEGER NOT NULL,
    finished_at_ms INTEGER NOT NULL,
    request_json TEXT NOT NULL,
    output_json TEXT NOT NULL,
    error TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
)sql"},
    // Concurrency keys and staleness guards. stale_guard has no declared type, so numbers
    // compare as numbers and strings as text.
    {2, R"sql(
ALTER TABLE runs ADD COLUMN concurrency_key TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN stale_guard;
CREATE INDEX runs_concurrency ON runs (workflow, concurrency_key, status);
)sql"},
};

Error migration_error(int version, const std::string& message) {
    return make_error(Errc::store_unavailable,
                      "store migration " + std::to_string(version) + " failed: " + message,
                      "store unavailable");
}

Result<bool> is_applied(Connection& db, int version) {
    auto query = db.query("SELECT 1 FROM schema_migrations WHERE version = ?1");
    query.bind(1, std::int64_t{version});
    bool found = query.row();
    if (auto status = query.status(); !status) {
        return status.error();
    }
    return found;
}

Result<void> apply_body(Connection& db, const Migration& migration, std::int64_t now_ms) {
    auto applied = is_applied(db, migration.version);
    if (!applied) {
        return applied.error();
    }
    if (*applied) {
        return {};
    }
    if (auto created = db.exec(migration.sql); !created) {
        return created.error();
    }
    auto record = db.query("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)");
    record.bind(1, std::int64_t{migration.version}).bind(2, now_ms);
    if (auto done = record.run(); !done) {
        return done.error();
    }
    spdlog::info("store migration applied {}", logf::field(kVersionField, migration.version));
    return {};
}

// The check runs inside the write transaction, so two processes opening one file at once
// cannot both apply the same migration.
Result<void> apply_one(Connection& db, const Migration& migration, std::int64_t now_ms) {
    // A plain read first, so opening an up-to-date file (the CLI beside a busy server) takes
    // no write lock.
    auto applied_already = is_applied(db, migration.version);
    if (!applied_already) {
        return migration_error(migration.version, applied_already.error().log_text);
    }
    if (*applied_already) {
        return {};
    }
    if (auto begun = db.exec("BEGIN IMMEDIATE"); !begun) {
        return migration_error(migration.version, begun.error().log_text);
    }
    auto applied = apply_body(db, migration, now_ms);
    if (!applied) {
        if (!db.autocommit()) {
            (void)db.exec("ROLLBACK");
        }
        return migration_error(migration.version, applied.error().log_text);
    }
    if (auto committed = db.exec("COMMIT"); !committed) {
        (void)db.exec("ROLLBACK");
        return migration_error(migration.version, committed.error().log_text);
    }
    return {};
}

}  // namespace

Result<void> apply_migrations(Connection& db, std::int64_t now_ms) {
    auto created = db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    if (!created) {
        return migration_error(0, created.error().log_text);
    }
    for (const auto& migration : kMigrations) {
        if (auto applied = apply_one(db, migration, now_ms); !applied) {
            return applied;
        }
    }
    return {};
}

}  // namespace hookflow::store::detail
