#include <memory>
#include <mutex>
#include <utility>

#include <spdlog/spdlog.h>

#include "maintenance.hpp"
#include "migrations.hpp"
#include "queries.hpp"
#include "sqlite_db.hpp"
#include "writer.hpp"
#include <hookflow/common/log.hpp>
#include <hookflow/store/sqlite_store.hpp>

namespace hookflow::store {

namespace {

using detail::Connection;

/// The Store over SQLite: writes through the Writer thread, reads on a mutex-guarded
/// connection of their own (WAL lets them run while the writer commits).
class SqliteStore final : public Store {
  public:
    SqliteStore(Connection reader, Connection writer, const Clock& clock, int max_batch)
        : clock_(clock), reader_(std::move(reader)), writer_(std::move(writer), max_batch) {}

    ~SqliteStore() override { close(); }

    void enqueue(NewEvent event, std::vector<NewRun> runs, Callback<EnqueueResult> done) override {
        submit<EnqueueResult>(
            [this, event = std::move(event), runs = std::move(runs)](Connection& db) {
                return detail::insert_event(db, event, runs, clock_.now_ms());
            },
            std::move(done));
    }

    void claim_runs(std::string owner,
                    int max,
                    std::int64_t now_ms,
                    std::int64_t lease_ms,
                    Callback<std::vector<ClaimedRun>> done) override {
        submit<std::vector<ClaimedRun>>(
            [owner = std::move(owner), max, now_ms, lease_ms](Connection& db) {
                return detail::claim(db, owner, max, now_ms, lease_ms);
            },
            std::move(done));
    }

    void save_step(StepRow step, Callback<bool> done) override {
        submit<bool>(
            [step = std::move(step)](Connection& db) { return detail::upsert_step(db, step); },
            std::move(done));
    }

    void finish_run(std::string run_id,
                    std::string status,
                    int attempt,
                    std::int64_t next_attempt_at_ms,
                    std::string last_error,
                    Callback<bool> done) override {
        submit<bool>(
            [this,
             run_id = std::move(run_id),
             status = std::move(status),
             attempt,
             next_attempt_at_ms,
             last_error = std::move(last_error)](Connection& db) {
                return detail::update_run_outcome(
                    db, run_id, status, attempt, next_attempt_at_ms, last_error, clock_.now_ms());
            },
            std::move(done));
    }

    void renew_lease(std::string run_id,
                     std::string owner,
                     std::int64_t until_ms,
                     Callback<bool> done) override {
        submit<bool>(
            [run_id = std::move(run_id), owner = std::move(owner), until_ms](Connection& db) {
                return detail::extend_lease(db, run_id, owner, until_ms);
            },
            std::move(done));
    }

    void release_run(std::string run_id, std::string owner, Callback<bool> done) override {
        submit<bool>(
            [this, run_id = std::move(run_id), owner = std::move(owner)](Connection& db) {
                return detail::release_lease(db, run_id, owner, clock_.now_ms());
            },
            std::move(done));
    }

    void retry_run(std::string run_id, Callback<bool> done) override {
        submit<bool>(
            [this, run_id = std::move(run_id)](Connection& db) {
                return detail::requeue_run(db, run_id, clock_.now_ms());
            },
            std::move(done));
    }

    void add_runs(std::string event_id,
                  std::vector<NewRun> runs,
                  Callback<std::vector<std::string>> done) override {
        submit<std::vector<std::string>>(
            [this, event_id = std::move(event_id), runs = std::move(runs)](Connection& db) {
                return detail::insert_runs(db, event_id, runs, clock_.now_ms());
            },
            std::move(done));
    }

    std::vector<RunRow> runs_with_status(const std::string& status, int limit) override {
        std::lock_guard lock(reader_mutex_);
        auto found = detail::select_runs_with_status(reader_, status, limit);
        if (!found) {
            spdlog::warn("store read failed {}", logf::field(logf::kErr, found.error().log_text));
            return {};
        }
        return std::move(*found);
    }

    bool writable() override {
        // On the reader connection: a probe through the writer queue would wait behind every
        // pending batch, and /readyz must answer quickly.
        std::lock_guard lock(reader_mutex_);
        if (!reader_.exec("BEGIN IMMEDIATE")) {
            return false;
        }
        (void)reader_.exec("ROLLBACK");
        return true;
    }

    std::vector<EventRow> list_events(int limit) override {
        return read<std::vector<EventRow>>(detail::select_events, limit);
    }
    std::optional<EventRow> get_event(const std::string& id) override {
        return read<std::optional<EventRow>>(detail::select_event, id);
    }
    std::vector<RunRow> list_runs(int limit) override {
        return read<std::vector<RunRow>>(detail::select_runs, limit);
    }
    std::vector<RunRow> runs_for_event(const std::string& event_id) override {
        return read<std::vector<RunRow>>(detail::select_runs_for_event, event_id);
    }
    std::optional<RunRow> get_run(const std::string& id) override {
        return read<std::optional<RunRow>>(detail::select_run, id);
    }
    std::vector<StepRow> steps_for_run(const std::string& run_id) override {
        return read<std::vector<StepRow>>(detail::select_steps, run_id);
    }

    Result<Page<EventRow>> find_events(const EventFilter& filter,
                                       const PageRequest& page) override {
        std::lock_guard lock(reader_mutex_);
        return paged(detail::select_events_page(reader_, filter, page), page);
    }

    Result<Page<RunRow>> find_runs(const RunFilter& filter, const PageRequest& page) override {
        std::lock_guard lock(reader_mutex_);
        return paged(detail::select_runs_page(reader_, filter, page), page);
    }

    Result<std::vector<std::pair<std::string, std::int64_t>>> count_runs_by_status() override {
        std::lock_guard lock(reader_mutex_);
        return detail::select_run_counts(reader_);
    }

    void cancel_run(std::string run_id, Callback<CancelResult> done) override {
        submit<CancelResult>(
            [this, run_id = std::move(run_id)](Connection& db) {
                return detail::mark_cancelled(db, run_id, clock_.now_ms());
            },
            std::move(done));
    }

    void purge_finished(std::int64_t cutoff_ms, int max_rows, Callback<PurgeResult> done) override {
        submit<PurgeResult>(
            [cutoff_ms, max_rows](Connection& db) {
                return detail::purge_batch(db, cutoff_ms, max_rows);
            },
            std::move(done));
    }

    void close() override { writer_.stop(); }

  private:
    // The query fetched one row past the page: its presence means more remain.
    template <class Row>
    static Result<Page<Row>> paged(Result<std::vector<Row>> rows, const PageRequest& page) {
        if (!rows) {
            return rows.error();
        }
        Page<Row> out{std::move(*rows), false};
        auto limit = static_cast<std::size_t>(page.limit > 0 ? page.limit : 1);
        if (out.items.size() > limit) {
            out.items.resize(limit);
            out.more = true;
        }
        return out;
    }

    template <class T, class Work>
    void submit(Work work, Callback<T> done) {
        auto outcome = std::make_shared<std::optional<Result<T>>>();
        detail::WriteJob job{[work = std::move(work), outcome](Connection& db) {
                                 outcome->emplace(work(db));
                                 return (*outcome)->ok();
                             },
                             [done, outcome](const Error* batch_error) {
                                 if (!done) {
                                     return;
                                 }
                                 if (batch_error != nullptr) {
                                     done(*batch_error);
                                 } else {
                                     done(std::move(**outcome));
                                 }
                             }};
        if (!writer_.submit(job)) {
            // Limitation: after close() there is no writer thread, so this one completion
            // runs inline in the submitting call.
            if (done) {
                done(make_error(Errc::store_unavailable, "store is closed", "store unavailable"));
            }
        }
    }

    // Limitation: a failed read (disk error, corrupt file) looks like "nothing found" to the
    // caller; the read API has no error channel, so the cause only reaches the log.
    template <class T, class Select, class Arg>
    T read(Select select, const Arg& arg) {
        std::lock_guard lock(reader_mutex_);
        auto found = select(reader_, arg);
        if (!found) {
            spdlog::warn("store read failed {}", logf::field(logf::kErr, found.error().log_text));
            return T{};
        }
        return std::move(*found);
    }

    const Clock& clock_;
    std::mutex reader_mutex_;
    Connection reader_;
    detail::Writer writer_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite(const SqliteOptions& options, const Clock& clock) {
    auto writer = Connection::open(options.path, options.busy_timeout_ms);
    if (!writer) {
        return writer.error();
    }
    if (auto migrated = detail::apply_migrations(*writer, clock.now_ms()); !migrated) {
        return migrated.error();
    }
    auto reader = Connection::open(options.path, options.busy_timeout_ms);
    if (!reader) {
        return reader.error();
    }
    spdlog::info("store opened {}", logf::field(logf::kFile, options.path));
    return std::unique_ptr<Store>(std::make_unique<SqliteStore>(
        std::move(*reader), std::move(*writer), clock, options.max_batch));
}

}  // namespace hookflow::store
