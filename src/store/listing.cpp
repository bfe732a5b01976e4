#include <utility>

#include "queries.hpp"

namespace hookflow::store::detail {

namespace {

// One prepared statement per listing: an unset filter binds NULL (or '') and matches all,
// so no SQL is built from input.
// Limitation: filters are not served by an index; a filter that matches few of many rows
// walks the table in id order until the page is full.
constexpr const char* kEventsPage =
    "SELECT id, source, provider, delivery_id, type, received_at_ms, headers_json, body "
    "FROM events WHERE (?1 = '' OR source = ?1) AND (?2 = '' OR type = ?2) "
    "AND (?3 IS NULL OR received_at_ms >= ?3) AND (?4 IS NULL OR received_at_ms < ?4) "
    "AND (?5 = '' OR id < ?5) ORDER BY id DESC LIMIT ?6";

constexpr const char* kRunsPage =
    "SELECT id, event_id, workflow, workflow_hash, status, attempt, next_attempt_at_ms, "
    "lease_owner, lease_expires_at_ms, last_error, created_at_ms, updated_at_ms FROM runs "
    "WHERE (?1 = '' OR workflow = ?1) AND (?2 = '' OR status = ?2) "
    "AND (?3 = '' OR event_id = ?3) AND (?4 = '' OR id < ?4) ORDER BY id DESC LIMIT ?5";

void bind_optional(Query& query, int index, const std::optional<std::int64_t>& value) {
    if (value) {
        query.bind(index, *value);
    } else {
        query.bind_null(index);
    }
}

std::int64_t fetch_count(const PageRequest& page) {
    return std::int64_t{page.limit > 0 ? page.limit : 1} + 1;
}

Result<std::optional<std::string>> run_status(Connection& db, const std::string& run_id) {
    auto query = db.query("SELECT status FROM runs WHERE id = ?1");
    query.bind(1, run_id);
    std::optional<std::string> status;
    if (query.row()) {
        status = query.text(0);
    }
    if (auto ok = query.status(); !ok) {
        return ok.error();
    }
    return status;
}

}  // namespace

Result<std::vector<EventRow>> select_events_page(Connection& db,
                                                 const EventFilter& filter,
                                                 const PageRequest& page) {
    auto query = db.query(kEventsPage);
    query.bind(1, filter.source).bind(2, filter.type);
    bind_optional(query, 3, filter.since_ms);
    bind_optional(query, 4, filter.until_ms);
    query.bind(5, page.before_id).bind(6, fetch_count(page));
    return collect<EventRow>(query, read_event);
}

Result<std::vector<RunRow>> select_runs_page(Connection& db,
                                             const RunFilter& filter,
                                             const PageRequest& page) {
    auto query = db.query(kRunsPage);
    query.bind(1, filter.workflow).bind(2, filter.status).bind(3, filter.event_id);
    query.bind(4, page.before_id).bind(5, fetch_count(page));
    return collect<RunRow>(query, read_run);
}

Result<std::vector<std::pair<std::string, std::int64_t>>> select_run_counts(Connection& db) {
    auto query = db.query("SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY status");
    std::vector<std::pair<std::string, std::int64_t>> counts;
    while (query.row()) {
        counts.emplace_back(query.text(0), query.int64(1));
    }
    if (auto ok = query.status(); !ok) {
        return ok.error();
    }
    return counts;
}

Result<CancelResult> mark_cancelled(Connection& db,
                                    const std::string& run_id,
                                    std::int64_t now_ms) {
    auto before = run_status(db, run_id);
    if (!before) {
        return before.error();
    }
    CancelResult result{before->value_or(""), false};
    // A running run's worker sees the status before its next step and stops there; its lease
    // is cleared so that no other worker claims it meanwhile.
    auto query = db.query(
        "UPDATE runs SET status = 'cancelled', last_error = 'cancelled', lease_owner = '', "
        "lease_expires_at_ms = 0, updated_at_ms = ?2 "
        "WHERE id = ?1 AND status IN ('queued', 'failed', 'running')");
    query.bind(1, run_id).bind(2, now_ms);
    if (auto done = query.run(); !done) {
        return done.error();
    }
    result.cancelled = db.changes() > 0;
    return result;
}

}  // namespace hookflow::store::detail
