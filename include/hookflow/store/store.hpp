#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <hookflow/common/result.hpp>

namespace hookflow::store {

/// An event to store, exactly as received.
struct NewEvent {
    std::string source;
    std::string provider;
    std::string delivery_id;
    std::string type;
    std::int64_t received_at_ms = 0;
    std::string headers_json;  // JSON array of [name, value] pairs
    std::string body;          // raw bytes
};

/// A staleness guard value: none, a number, or a string (compared as numbers or as text).
using GuardValue = std::variant<std::monostate, double, std::string>;

/// A run to queue with the event: the workflow and the definition it starts with.
struct NewRun {
    std::string workflow;
    std::string workflow_hash;
    std::string definition;  // the workflow file's text, kept by hash
    /// Runs of one workflow with the same key: at most `concurrency_limit` running at once
    /// (0: no limit); with limit 1 they start in the order they were queued.
    std::string concurrency_key{};
    int concurrency_limit = 0;
    /// A run whose guard is below that of a run of the same workflow and key that already
    /// executed is recorded `stale` and executes nothing.
    GuardValue stale_guard{};
};

/// What `enqueue` did.
struct EnqueueResult {
    bool duplicate = false;
    std::string event_id;  // the stored event (the earlier one for a duplicate)
    int runs = 0;          // runs queued (0 for a duplicate)
};

struct EventRow {
    std::string id;
    std::string source;
    std::string provider;
    std::string delivery_id;
    std::string type;
    std::int64_t received_at_ms = 0;
    std::string headers_json;
    std::string body;
};

struct RunRow {
    std::string id;
    std::string event_id;
    std::string workflow;
    std::string workflow_hash;
    std::string status;  // queued, running, succeeded, failed, dead, stale
    int attempt = 0;
    std::int64_t next_attempt_at_ms = 0;
    std::string lease_owner;
    std::int64_t lease_expires_at_ms = 0;
    std::string last_error;
    std::int64_t created_at_ms = 0;
    std::int64_t updated_at_ms = 0;
};

struct StepRow {
    std::string run_id;
    std::string step_id;
    int position = 0;    // order in the workflow
    std::string status;  // running, succeeded, failed, skipped
    int attempt = 0;
    std::int64_t started_at_ms = 0;
    std::int64_t finished_at_ms = 0;
    std::string request_json;  // secrets redacted
    std::string output_json;
    std::string error;
};

/// A run handed to a worker, with what it needs to execute.
struct ClaimedRun {
    RunRow run;
    EventRow event;
    std::string definition;      // the workflow text the run started with
    std::vector<StepRow> steps;  // steps already recorded for this run
};

template <class T>
using Callback = std::function<void(Result<T>)>;

/// What one retention batch deleted.
struct PurgeResult {
    int runs = 0;
    int events = 0;
};

/// Which events a listing returns; an empty or unset field matches every event.
struct EventFilter {
    std::string source;
    std::string type;
    std::optional<std::int64_t> since_ms;  // received at or after
    std::optional<std::int64_t> until_ms;  // received before
};

/// Which runs a listing returns; an empty field matches every run.
struct RunFilter {
    std::string workflow;
    std::string status;
    std::string event_id;
};

/// One page of a newest-first listing: rows whose id sorts below `before_id` (all rows when
/// empty), at most `limit` of them.
struct PageRequest {
    std::string before_id;
    int limit = 50;
};

/// A page of rows, newest first; `more` when rows remain past the last one.
template <class Row>
struct Page {
    std::vector<Row> items;
    bool more = false;
};

/// What `cancel_run` found: the run's status before the call ("" when there is no such run)
/// and whether it is now cancelled.
struct CancelResult {
    std::string previous_status;
    bool cancelled = false;
};

/// The durable queue. Writes go through one writer thread and complete through a callback
/// called on that thread (never inline); reads are synchronous on a reader connection.
/// Errc::store_unavailable when the database cannot commit.
class Store {
  public:
    virtual ~Store() = default;

    /// Inserts the event and its runs in one commit; a delivery id already stored for the
    /// source inserts nothing and reports `duplicate`.
    virtual void enqueue(NewEvent event,
                         std::vector<NewRun> runs,
                         Callback<EnqueueResult> done) = 0;

    /// Claims up to `max` runs that are queued and due (or whose lease expired), setting them
    /// `running` with a lease for `owner` until `now_ms + lease_ms`. A run whose concurrency
    /// key is at its limit (or, with limit 1, has an earlier run still waiting) is left
    /// queued; a run found stale by its guard is set `stale` and not returned.
    virtual void claim_runs(std::string owner,
                            int max,
                            std::int64_t now_ms,
                            std::int64_t lease_ms,
                            Callback<std::vector<ClaimedRun>> done) = 0;

    /// Inserts or replaces the row of (run_id, step_id).
    virtual void save_step(StepRow step, Callback<bool> done) = 0;

    /// Ends a run: `status` succeeded, failed or dead, or queued again at `next_attempt_at_ms`;
    /// clears the lease. `last_error` empty on success.
    virtual void finish_run(std::string run_id,
                            std::string status,
                            int attempt,
                            std::int64_t next_attempt_at_ms,
                            std::string last_error,
                            Callback<bool> done) = 0;

    /// Moves the lease of a running run that `owner` holds to `until_ms`; false when the lease
    /// is no longer its own (it expired and another worker claimed the run).
    virtual void renew_lease(std::string run_id,
                             std::string owner,
                             std::int64_t until_ms,
                             Callback<bool> done) = 0;

    /// Gives a running run that `owner` holds back to the queue, due now, without counting
    /// the attempt (shutdown); false when it does not hold it.
    virtual void release_run(std::string run_id, std::string owner, Callback<bool> done) = 0;

    /// Queues a dead or failed run again now with fresh attempts; it resumes after its last
    /// succeeded step. False when the run is neither dead nor failed.
    virtual void retry_run(std::string run_id, Callback<bool> done) = 0;

    /// Queues new runs for a stored event (replay), starting from their first step; their ids.
    /// Errc::not_found when there is no such event.
    virtual void add_runs(std::string event_id,
                          std::vector<NewRun> runs,
                          Callback<std::vector<std::string>> done) = 0;

    /// Up to `limit` runs with this status, newest first.
    virtual std::vector<RunRow> runs_with_status(const std::string& status, int limit) = 0;

    /// True when the database accepts writes (for /readyz).
    virtual bool writable() = 0;

    virtual std::vector<EventRow> list_events(int limit) = 0;
    virtual std::optional<EventRow> get_event(const std::string& id) = 0;
    virtual std::vector<RunRow> list_runs(int limit) = 0;
    virtual std::vector<RunRow> runs_for_event(const std::string& event_id) = 0;
    virtual std::optional<RunRow> get_run(const std::string& id) = 0;
    virtual std::vector<StepRow> steps_for_run(const std::string& run_id) = 0;

    /// Events matching `filter`, newest first, one page. The CLI and the admin API both list
    /// through this. Errc::store_unavailable when the read fails.
    virtual Result<Page<EventRow>> find_events(const EventFilter& filter, const PageRequest& page);

    /// Runs matching `filter`, newest first, one page. Errc::store_unavailable on a failed read.
    virtual Result<Page<RunRow>> find_runs(const RunFilter& filter, const PageRequest& page);

    /// How many runs have each status (statuses without runs are absent).
    virtual Result<std::vector<std::pair<std::string, std::int64_t>>> count_runs_by_status();

    /// Cancels a queued, failed (waiting to retry) or running run; a running run stops before
    /// its next step. Runs in other statuses are left as they are.
    virtual void cancel_run(std::string run_id, Callback<CancelResult> done);

    /// Retention, one small batch in one write: deletes up to `max_rows` finished runs
    /// (succeeded, dead, stale, cancelled) last updated before `cutoff_ms` with their steps,
    /// then up to `max_rows` events received before `cutoff_ms` that have no run left.
    /// Errc::internal when the store does not support it.
    virtual void purge_finished(std::int64_t cutoff_ms, int max_rows, Callback<PurgeResult> done);

    /// Stops the writer thread after it has finished what was submitted.
    virtual void close() = 0;
};

}  // namespace hookflow::store
