#include "queries.hpp"

#include <utility>
#include <variant>

#include <hookflow/common/ids.hpp>

namespace hookflow::store::detail {

EventRow read_event(const Query& q) {
    return EventRow{
        q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.int64(5), q.text(6), q.blob(7)};
}

RunRow read_run(const Query& q) {
    return RunRow{q.text(0),
                  q.text(1),
                  q.text(2),
                  q.text(3),
                  q.text(4),
                  q.int32(5),
                  q.int64(6),
                  q.text(7),
                  q.int64(8),
                  q.text(9),
                  q.int64(10),
                  q.int64(11)};
}

namespace {

template <class Row, class Read>
Result<std::optional<Row>> first(Query& query, Read read) {
    std::optional<Row> row;
    if (query.row()) {
        row = read(query);
    }
    if (auto status = query.status(); !status) {
        return status.error();
    }
    return row;
}

StepRow read_step(const Query& q) {
    return StepRow{q.text(0),
                   q.text(1),
                   q.int32(2),
                   q.text(3),
                   q.int32(4),
                   q.int64(5),
                   q.int64(6),
                   q.text(7),
                   q.text(8),
                   q.text(9)};
}

std::string read_first_text(const Query& q) {
    return q.text(0);
}

Result<std::optional<std::string>> find_delivery(Connection& db, const NewEvent& event) {
    // An event without a delivery id is stored with NULL there, which UNIQUE never matches:
    // without an id there is nothing to recognise a redelivery by.
    if (event.delivery_id.empty()) {
        return std::optional<std::string>{};
    }
    auto query = db.query("SELECT id FROM events WHERE source = ?1 AND delivery_id = ?2");
    query.bind(1, event.source).bind(2, event.delivery_id);
    return first<std::string>(query, read_first_text);
}

Result<void> insert_event_row(Connection& db, const std::string& id, const NewEvent& event) {
    auto query = db.query(
        "INSERT INTO events (id, source, provider, delivery_id, type, received_at_ms, "
        "headers_json, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    query.bind(1, id).bind(2, event.source).bind(3, event.provider);
    if (event.delivery_id.empty()) {
        query.bind_null(4);
    } else {
        query.bind(4, event.delivery_id);
    }
    query.bind(5, event.type).bind(6, event.received_at_ms).bind(7, event.headers_json);
    query.bind_blob(8, event.body);
    return query.run();
}

void bind_guard(Query& query, int index, const GuardValue& guard);

Result<std::string> insert_run(Connection& db,
                               const std::string& event_id,
                               const NewRun& run,
                               std::int64_t now_ms) {
    auto definition = db.query(
        "INSERT OR IGNORE INTO workflow_definitions (hash, workflow, definition) "
        "VALUES (?1, ?2, ?3)");
    definition.bind(1, run.workflow_hash).bind(2, run.workflow).bind(3, run.definition);
    if (auto stored = definition.run(); !stored) {
        return stored.error();
    }
    auto query = db.query(
        "INSERT INTO runs (id, event_id, workflow, workflow_hash, status, attempt, "
        "next_attempt_at_ms, created_at_ms, updated_at_ms, concurrency_key, concurrency_limit, "
        "stale_guard) VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?5, ?5, ?6, ?7, ?8)");
    auto id = new_id("run", now_ms);
    query.bind(1, id).bind(2, event_id).bind(3, run.workflow);
    query.bind(4, run.workflow_hash).bind(5, now_ms);
    query.bind(6, run.concurrency_key).bind(7, std::int64_t{run.concurrency_limit});
    bind_guard(query, 8, run.stale_guard);
    if (auto done = query.run(); !done) {
        return done.error();
    }
    return id;
}

void bind_guard(Query& query, int index, const GuardValue& guard) {
    if (const auto* number = std::get_if<double>(&guard)) {
        query.bind_real(index, *number);
    } else if (const auto* text = std::get_if<std::string>(&guard)) {
        query.bind(index, *text);
    } else {
        query.bind_null(index);
    }
}

// A due run, with what the concurrency and staleness checks need.
struct Candidate {
    std::string id;
    std::string workflow;
    std::string key;
    int limit = 0;
    int attempt = 0;
    std::int64_t created_at_ms = 0;
    std::int64_t rowid = 0;
    bool has_guard = false;
};

Candidate read_candidate(const Query& q) {
    return Candidate{q.text(0),
                     q.text(1),
                     q.text(2),
                     q.int32(3),
                     q.int32(4),
                     q.int64(5),
                     q.int64(6),
                     q.int64(7) != 0};
}

// Runs blocked by their concurrency key are skipped, so more than `max` are looked at.
constexpr int kClaimLookahead = 256;

// Limitation: a claim looks at the oldest max+256 due runs; a blocked backlog delays others.
Result<std::vector<Candidate>> due_runs(Connection& db, int max, std::int64_t now_ms) {
    // rowid follows commit order, so events stored in the same millisecond keep theirs.
    auto query = db.query(
        "SELECT id, workflow, concurrency_key, concurrency_limit, attempt, created_at_ms, rowid, "
        "stale_guard IS NOT NULL FROM runs "
        "WHERE (status IN ('queued', 'failed') AND next_attempt_at_ms <= ?1) "
        "OR (status = 'running' AND lease_expires_at_ms < ?1) "
        "ORDER BY created_at_ms, rowid LIMIT ?2");
    query.bind(1, now_ms).bind(2, std::int64_t{max} + kClaimLookahead);
    return collect<Candidate>(query, read_candidate);
}

std::int64_t read_first_int(const Query& q) {
    return q.int64(0);
}

// Whether the run must wait: its key has `limit` runs holding a live lease, or (limit 1) an
// earlier run of the key is still waiting its turn.
Result<bool> blocked_by_key(Connection& db, const Candidate& run, std::int64_t now_ms) {
    if (run.limit <= 0) {
        return false;
    }
    auto running = db.query(
        "SELECT COUNT(*) FROM runs WHERE workflow = ?1 AND concurrency_key = ?2 AND id != ?3 "
        "AND status = 'running' AND lease_expires_at_ms >= ?4");
    running.bind(1, run.workflow).bind(2, run.key).bind(3, run.id).bind(4, now_ms);
    auto count = first<std::int64_t>(running, read_first_int);
    if (!count) {
        return count.error();
    }
    if (count->value_or(0) >= run.limit) {
        return true;
    }
    if (run.limit != 1) {
        return false;
    }
    auto earlier = db.query(
        "SELECT COUNT(*) FROM runs WHERE workflow = ?1 AND concurrency_key = ?2 AND id != ?3 "
        "AND (status IN ('queued', 'failed') OR (status = 'running' AND lease_expires_at_ms < ?4)) "
        "AND (created_at_ms < ?5 OR (created_at_ms = ?5 AND rowid < ?6))");
    earlier.bind(1, run.workflow).bind(2, run.key).bind(3, run.id).bind(4, now_ms);
    earlier.bind(5, run.created_at_ms).bind(6, run.rowid);
    auto waiting = first<std::int64_t>(earlier, read_first_int);
    if (!waiting) {
        return waiting.error();
    }
    return waiting->value_or(0) > 0;
}

// Whether a run of the same workflow and key with a higher guard value already executed.
Result<bool> is_stale(Connection& db, const Candidate& run) {
    // A run that executed before (a retry, a reclaimed run) is not judged again.
    if (!run.has_guard || run.attempt > 0) {
        return false;
    }
    auto query = db.query(
        "SELECT COUNT(*) FROM runs AS mine JOIN runs AS other "
        "ON other.workflow = mine.workflow AND other.concurrency_key = mine.concurrency_key "
        "WHERE mine.id = ?1 AND other.id != mine.id AND other.attempt > 0 "
        "AND other.status IN ('running', 'succeeded', 'failed', 'dead') "
        "AND other.stale_guard IS NOT NULL AND other.stale_guard > mine.stale_guard");
    query.bind(1, run.id);
    auto newer = first<std::int64_t>(query, read_first_int);
    if (!newer) {
        return newer.error();
    }
    return newer->value_or(0) > 0;
}

Result<void> mark_stale(Connection& db, const std::string& run_id, std::int64_t now_ms) {
    auto query = db.query(
        "UPDATE runs SET status = 'stale', "
        "last_error = 'stale: a run with a newer guard value already executed', "
        "lease_owner = '', lease_expires_at_ms = 0, updated_at_ms = ?2 WHERE id = ?1");
    query.bind(1, run_id).bind(2, now_ms);
    return query.run();
}

// What claim does with one due run: claim it, leave it waiting, or it was found stale.
enum class Decision { claim, wait, stale };

Result<Decision> decide(Connection& db, const Candidate& run, std::int64_t now_ms) {
    auto stale = is_stale(db, run);
    if (!stale) {
        return stale.error();
    }
    if (*stale) {
        if (auto marked = mark_stale(db, run.id, now_ms); !marked) {
            return marked.error();
        }
        return Decision::stale;
    }
    auto blocked = blocked_by_key(db, run, now_ms);
    if (!blocked) {
        return blocked.error();
    }
    return *blocked ? Decision::wait : Decision::claim;
}

Result<void> lease_run(Connection& db,
                       const std::string& run_id,
                       const std::string& owner,
                       std::int64_t now_ms,
                       std::int64_t lease_ms) {
    auto query = db.query(
        "UPDATE runs SET status = 'running', attempt = attempt + 1, lease_owner = ?2, "
        "lease_expires_at_ms = ?3, updated_at_ms = ?4 WHERE id = ?1");
    query.bind(1, run_id).bind(2, owner).bind(3, now_ms + lease_ms).bind(4, now_ms);
    return query.run();
}

Result<std::string> select_definition(Connection& db, const std::string& hash) {
    auto query = db.query("SELECT definition FROM workflow_definitions WHERE hash = ?1");
    query.bind(1, hash);
    auto found = first<std::string>(query, read_first_text);
    if (!found) {
        return found.error();
    }
    return found->value_or(std::string{});
}

Result<ClaimedRun> load_claimed(Connection& db, const std::string& run_id) {
    auto run = select_run(db, run_id);
    if (!run) {
        return run.error();
    }
    if (!*run) {
        return make_error(Errc::internal, "store claimed run vanished: " + run_id, "store error");
    }
    ClaimedRun claimed{std::move(**run), {}, {}, {}};
    auto event = select_event(db, claimed.run.event_id);
    if (!event) {
        return event.error();
    }
    claimed.event = event->value_or(EventRow{});
    auto definition = select_definition(db, claimed.run.workflow_hash);
    if (!definition) {
        return definition.error();
    }
    claimed.definition = std::move(*definition);
    auto steps = select_steps(db, run_id);
    if (!steps) {
        return steps.error();
    }
    claimed.steps = std::move(*steps);
    return claimed;
}

}  // namespace

Result<EnqueueResult> insert_event(Connection& db,
                                   const NewEvent& event,
                                   const std::vector<NewRun>& runs,
                                   std::int64_t now_ms) {
    auto existing = find_delivery(db, event);
    if (!existing) {
        return existing.error();
    }
    if (*existing) {
        return EnqueueResult{true, std::move(**existing), 0};
    }

    EnqueueResult result{false, new_id("ev", now_ms), 0};
    if (auto stored = insert_event_row(db, result.event_id, event); !stored) {
        return stored.error();
    }
    for (const auto& run : runs) {
        if (auto queued = insert_run(db, result.event_id, run, now_ms); !queued) {
            return queued.error();
        }
        ++result.runs;
    }
    return result;
}

Result<std::vector<ClaimedRun>> claim(
    Connection& db, const std::string& owner, int max, std::int64_t now_ms, std::int64_t lease_ms) {
    std::vector<ClaimedRun> claimed;
    if (max <= 0) {
        return claimed;
    }
    // Candidates first: the SELECT is finished before the UPDATEs touch the rows it walks.
    auto candidates = due_runs(db, max, now_ms);
    if (!candidates) {
        return candidates.error();
    }
    for (const auto& candidate : *candidates) {
        if (static_cast<int>(claimed.size()) >= max) {
            break;
        }
        auto decision = decide(db, candidate, now_ms);
        if (!decision) {
            return decision.error();
        }
        if (*decision != Decision::claim) {
            continue;
        }
        const auto& id = candidate.id;
        if (auto leased = lease_run(db, id, owner, now_ms, lease_ms); !leased) {
            return leased.error();
        }
        auto loaded = load_claimed(db, id);
        if (!loaded) {
            return loaded.error();
        }
        claimed.push_back(std::move(*loaded));
    }
    return claimed;
}

Result<bool> upsert_step(Connection& db, const StepRow& step) {
    auto query = db.query(
        "INSERT OR REPLACE INTO steps (run_id, step_id, position, status, attempt, "
        "started_at_ms, finished_at_ms, request_json, output_json, error) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    query.bind(1, step.run_id).bind(2, step.step_id).bind(3, std::int64_t{step.position});
    query.bind(4, step.status).bind(5, std::int64_t{step.attempt}).bind(6, step.started_at_ms);
    query.bind(7, step.finished_at_ms).bind(8, step.request_json).bind(9, step.output_json);
    query.bind(10, step.error);
    if (auto done = query.run(); !done) {
        return done.error();
    }
    return true;
}

Result<bool> update_run_outcome(Connection& db,
                                const std::string& run_id,
                                const std::string& status,
                                int attempt,
                                std::int64_t next_attempt_at_ms,
                                const std::string& last_error,
                                std::int64_t now_ms) {
    // Limitation: no fencing on the lease owner; a worker whose lease expired and was
    // claimed again can still overwrite the newer attempt's outcome.
    // A run cancelled while it ran keeps `cancelled`: the operator's word is final.
    auto query = db.query(
        "UPDATE runs SET status = ?2, attempt = ?3, next_attempt_at_ms = ?4, last_error = ?5, "
        "lease_owner = '', lease_expires_at_ms = 0, updated_at_ms = ?6 "
        "WHERE id = ?1 AND status != 'cancelled'");
    query.bind(1, run_id).bind(2, status).bind(3, std::int64_t{attempt});
    query.bind(4, next_attempt_at_ms).bind(5, last_error).bind(6, now_ms);
    if (auto done = query.run(); !done) {
        return done.error();
    }
    return db.changes() > 0;
}

Result<std::vector<EventRow>> select_events(Connection& db, int limit) {
    auto query = db.query(
        "SELECT id, source, provider, delivery_id, type, received_at_ms, headers_json, body "
        "FROM events ORDER BY id DESC LIMIT ?1");
    query.bind(1, std::int64_t{limit});
    return collect<EventRow>(query, read_event);
}

Result<std::optional<EventRow>> select_event(Connection& db, const std::string& id) {
    auto query = db.query(
        "SELECT id, source, provider, delivery_id, type, received_at_ms, headers_json, body "
        "FROM events WHERE id = ?1");
    query.bind(1, id);
    return first<EventRow>(query, read_event);
}

Result<std::vector<RunRow>> select_runs(Connection& db, int limit) {
    auto query = db.query(
        "SELECT id, event_id, workflow, workflow_hash, status, attempt, next_attempt_at_ms, "
        "lease_owner, lease_expires_at_ms, last_error, created_at_ms, updated_at_ms "
        "FROM runs ORDER BY id DESC LIMIT ?1");
    query.bind(1, std::int64_t{limit});
    return collect<RunRow>(query, read_run);
}

Result<std::vector<RunRow>> select_runs_for_event(Connection& db, const std::string& event_id) {
    auto query = db.query(
        "SELECT id, event_id, workflow, workflow_hash, status, attempt, next_attempt_at_ms, "
        "lease_owner, lease_expires_at_ms, last_error, created_at_ms, updated_at_ms "
        "FROM runs WHERE event_id = ?1 ORDER BY created_at_ms, id");
    query.bind(1, event_id);
    return collect<RunRow>(query, read_run);
}

Result<std::optional<RunRow>> select_run(Connection& db, const std::string& id) {
    auto query = db.query(
        "SELECT id, event_id, workflow, workflow_hash, status, attempt, next_attempt_at_ms, "
        "lease_owner, lease_expires_at_ms, last_error, created_at_ms, updated_at_ms "
        "FROM runs WHERE id = ?1");
    query.bind(1, id);
    return first<RunRow>(query, read_run);
}

Result<std::vector<StepRow>> select_steps(Connection& db, const std::string& run_id) {
    auto query = db.query(
        "SELECT run_id, step_id, position, status, attempt, started_at_ms, finished_at_ms, "
        "request_json, output_json, error FROM steps WHERE run_id = ?1 ORDER BY position, step_id");
    query.bind(1, run_id);
    return collect<StepRow>(query, read_step);
}

}  // namespace hookflow::store::detail

namespace hookflow::store::detail {

Result<std::vector<std::string>> insert_runs(Connection& db,
                                             const std::string& event_id,
                                             const std::vector<NewRun>& runs,
                                             std::int64_t now_ms) {
    auto event = select_event(db, event_id);
    if (!event) {
        return event.error();
    }
    if (!*event) {
        return make_error(Errc::not_found, "no event " + event_id);
    }
    std::vector<std::string> ids;
    for (const auto& run : runs) {
        auto id = insert_run(db, event_id, run, now_ms);
        if (!id) {
            return id.error();
        }
        ids.push_back(std::move(*id));
    }
    return ids;
}

Result<bool> requeue_run(Connection& db, const std::string& run_id, std::int64_t now_ms) {
    // Fresh attempts; the succeeded steps stay recorded, so the run resumes after them.
    auto query = db.query(
        "UPDATE runs SET status = 'queued', attempt = 0, next_attempt_at_ms = ?2, "
        "last_error = '', lease_owner = '', lease_expires_at_ms = 0, updated_at_ms = ?2 "
        "WHERE id = ?1 AND status IN ('dead', 'failed')");
    query.bind(1, run_id).bind(2, now_ms);
    if (auto done = query.run(); !done) {
        return done.error();
    }
    if (db.changes() == 0) {
        return false;
    }
    // The step that failed gets fresh attempts too; its count starts again from 1.
    auto steps = db.query(
        "UPDATE steps SET attempt = 0 WHERE run_id = ?1 AND status IN ('failed', 'running')");
    steps.bind(1, run_id);
    if (auto done = steps.run(); !done) {
        return done.error();
    }
    return true;
}

Result<bool> extend_lease(Connection& db,
                          const std::string& run_id,
                          const std::string& owner,
                          std::int64_t until_ms) {
    auto query = db.query(
        "UPDATE runs SET lease_expires_at_ms = ?3 "
        "WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'");
    query.bind(1, run_id).bind(2, owner).bind(3, until_ms);
    if (auto done = query.run(); !done) {
        return done.error();
    }
    return db.changes() > 0;
}

Result<bool> release_lease(Connection& db,
                           const std::string& run_id,
                           const std::string& owner,
                           std::int64_t now_ms) {
    // The attempt was cut short by shutdown, not failed: it is given back.
    auto query = db.query(
        "UPDATE runs SET status = 'queued', attempt = MAX(attempt - 1, 0), "
        "next_attempt_at_ms = ?3, lease_owner = '', lease_expires_at_ms = 0, updated_at_ms = ?3 "
        "WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'");
    query.bind(1, run_id).bind(2, owner).bind(3, now_ms);
    if (auto done = query.run(); !done) {
        return done.error();
    }
    return db.changes() > 0;
}

Result<std::vector<RunRow>> select_runs_with_status(Connection& db,
                                                    const std::string& status,
                                                    int limit) {
    auto query = db.query(
        "SELECT id, event_id, workflow, workflow_hash, status, attempt, next_attempt_at_ms, "
        "lease_owner, lease_expires_at_ms, last_error, created_at_ms, updated_at_ms "
        "FROM runs WHERE status = ?1 ORDER BY id DESC LIMIT ?2");
    query.bind(1, status).bind(2, std::int64_t{limit});
    return collect<RunRow>(query, read_run);
}

}  // namespace hookflow::store::detail
