#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sqlite_db.hpp"
#include <hookflow/common/result.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::store::detail {

/// Every row of a query, each read by `read`; the query's error if stepping failed.
template <class Row, class Read>
Result<std::vector<Row>> collect(Query& query, Read read) {
    std::vector<Row> rows;
    while (query.row()) {
        rows.push_back(read(query));
    }
    if (auto status = query.status(); !status) {
        return status.error();
    }
    return rows;
}

/// An event row from a query selecting the events columns in table order.
EventRow read_event(const Query& q);

/// A run row from a query selecting the runs columns in table order.
RunRow read_run(const Query& q);

// Writes: each runs inside the writer's batch transaction, on the writer connection.

/// Inserts the event, the definitions and one queued run per workflow, or reports the stored
/// event when the source already has this delivery id.
Result<EnqueueResult> insert_event(Connection& db,
                                   const NewEvent& event,
                                   const std::vector<NewRun>& runs,
                                   std::int64_t now_ms);

/// Leases up to `max` due runs to `owner` and loads what each needs to execute.
Result<std::vector<ClaimedRun>> claim(
    Connection& db, const std::string& owner, int max, std::int64_t now_ms, std::int64_t lease_ms);

/// Inserts or replaces the step row.
Result<bool> upsert_step(Connection& db, const StepRow& step);

/// Sets a run's outcome and clears its lease; false when no run has this id.
Result<bool> update_run_outcome(Connection& db,
                                const std::string& run_id,
                                const std::string& status,
                                int attempt,
                                std::int64_t next_attempt_at_ms,
                                const std::string& last_error,
                                std::int64_t now_ms);

/// Queues more runs for a stored event (replay); their ids. Errc::not_found without the event.
Result<std::vector<std::string>> insert_runs(Connection& db,
                                             const std::string& event_id,
                                             const std::vector<NewRun>& runs,
                                             std::int64_t now_ms);

/// Queues a dead or failed run again now with fresh attempts; false when it is neither.
Result<bool> requeue_run(Connection& db, const std::string& run_id, std::int64_t now_ms);

/// Moves the lease of a running run held by `owner` to `until_ms`; false when not held.
Result<bool> extend_lease(Connection& db,
                          const std::string& run_id,
                          const std::string& owner,
                          std::int64_t until_ms);

/// Gives a running run held by `owner` back to the queue, due now, its attempt not counted.
Result<bool> release_lease(Connection& db,
                           const std::string& run_id,
                           const std::string& owner,
                           std::int64_t now_ms);

// Reads: on the reader connection (or inside a write, on the writer connection).

/// Up to `limit` events, newest first.
Result<std::vector<EventRow>> select_events(Connection& db, int limit);
/// The event with this id, or nullopt.
Result<std::optional<EventRow>> select_event(Connection& db, const std::string& id);
/// Up to `limit` runs, newest first.
Result<std::vector<RunRow>> select_runs(Connection& db, int limit);
/// The runs queued for an event, oldest first.
Result<std::vector<RunRow>> select_runs_for_event(Connection& db, const std::string& event_id);
/// Up to `limit` runs with this status, newest first.
Result<std::vector<RunRow>> select_runs_with_status(Connection& db,
                                                    const std::string& status,
                                                    int limit);
/// The run with this id, or nullopt.
Result<std::optional<RunRow>> select_run(Connection& db, const std::string& id);
/// A run's recorded steps in workflow order.
Result<std::vector<StepRow>> select_steps(Connection& db, const std::string& run_id);

}  // namespace hookflow::store::detail

namespace hookflow::store::detail {

/// Up to `page.limit` + 1 events matching `filter` with ids below `page.before_id`, newest
/// first (the extra row tells the caller that more remain).
Result<std::vector<EventRow>> select_events_page(Connection& db,
                                                 const EventFilter& filter,
                                                 const PageRequest& page);

/// Up to `page.limit` + 1 runs matching `filter` with ids below `page.before_id`, newest first.
Result<std::vector<RunRow>> select_runs_page(Connection& db,
                                             const RunFilter& filter,
                                             const PageRequest& page);

/// The number of runs in each status.
Result<std::vector<std::pair<std::string, std::int64_t>>> select_run_counts(Connection& db);

/// Sets a queued, failed or running run `cancelled` and clears its lease.
Result<CancelResult> mark_cancelled(Connection& db, const std::string& run_id, std::int64_t now_ms);

}  // namespace hookflow::store::detail
