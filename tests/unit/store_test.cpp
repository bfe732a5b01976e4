#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <hookflow/common/clock.hpp>
#include <hookflow/common/result.hpp>
#include <hookflow/store/sqlite_store.hpp>
#include <hookflow/store/store.hpp>

namespace {

using hookflow::Errc;
using hookflow::FixedClock;
using hookflow::Result;
using hookflow::store::ClaimedRun;
using hookflow::store::EnqueueResult;
using hookflow::store::GuardValue;
using hookflow::store::NewEvent;
using hookflow::store::NewRun;
using hookflow::store::SqliteOptions;
using hookflow::store::StepRow;
using hookflow::store::Store;

constexpr std::int64_t kStart = 1'700'000'000;  // seconds
constexpr std::int64_t kLeaseMs = 30'000;

/// A fresh folder per test, removed afterwards.
class TempDir {
  public:
    TempDir() {
        auto pattern = (std::filesystem::temp_directory_path() / "hookflow-store-XXXXXX").string();
        if (mkdtemp(pattern.data()) != nullptr) {
            path_ = pattern;
        }
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string db() const { return (path_ / "hookflow.db").string(); }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

/// Sends the store's callback result back to the test thread.
template <class T>
struct Waiter {
    std::shared_ptr<std::promise<Result<T>>> promise = std::make_shared<std::promise<Result<T>>>();
    std::future<Result<T>> future = promise->get_future();

    hookflow::store::Callback<T> callback() {
        return [p = promise](Result<T> result) { p->set_value(std::move(result)); };
    }
    Result<T> get() { return future.get(); }
};

/// A second, raw connection to the same file, as another process would hold it.
class RawDb {
  public:
    explicit RawDb(const std::string& path) {
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr);
        sqlite3_busy_timeout(db_, 5000);
    }
    ~RawDb() { sqlite3_close_v2(db_); }
    int exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }
    std::int64_t count(const std::string& sql) {
        sqlite3_stmt* stmt = nullptr;
        sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
        std::int64_t value = -1;
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            value = sqlite3_column_int64(stmt, 0);
        }
        sqlite3_finalize(stmt);
        return value;
    }
    std::string text(const std::string& sql) {
        sqlite3_stmt* stmt = nullptr;
        sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
        std::string value;
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        }
        sqlite3_finalize(stmt);
        return value;
    }
    std::vector<std::pair<std::int64_t, std::int64_t>> migrations() {
        sqlite3_stmt* stmt = nullptr;
        sqlite3_prepare_v2(db_,
                           "SELECT version, applied_at FROM schema_migrations ORDER BY version",
                           -1,
                           &stmt,
                           nullptr);
        std::vector<std::pair<std::int64_t, std::int64_t>> rows;
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            rows.emplace_back(sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1));
        }
        sqlite3_finalize(stmt);
        return rows;
    }

  private:
    sqlite3* db_ = nullptr;
};

/// Routes spdlog's default logger into a string for the test's lifetime.
class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        auto logger = std::make_shared<spdlog::logger>("store_test", sink);
        logger->set_pattern("%l %v");
        logger->set_level(spdlog::level::debug);
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    std::vector<std::string> lines_with(const std::string& phrase) {
        std::vector<std::string> found;
        std::istringstream in(out_.str());
        for (std::string line; std::getline(in, line);) {
            if (line.find(phrase) != std::string::npos) {
                found.push_back(line);
            }
        }
        return found;
    }

  private:
    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> previous_;
};

std::unique_ptr<Store> open_store(const std::string& path,
                                  const FixedClock& clock,
                                  int busy_timeout_ms = 2000) {
    auto opened = hookflow::store::open_sqlite(SqliteOptions{path, busy_timeout_ms, 256}, clock);
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error().log_text);
    return opened.ok() ? std::move(*opened) : nullptr;
}

NewEvent make_event(const std::string& source, const std::string& delivery_id) {
    return NewEvent{source,
                    "stripe",
                    delivery_id,
                    "invoice.payment_failed",
                    kStart * 1000 + 7,
                    R"([["Stripe-Signature","t=1,v1=ab"],["Content-Type","application/json"]])",
                    R"({"id":")" + delivery_id + R"(","type":"invoice.payment_failed"})"};
}

std::vector<NewRun> one_run() {
    return {NewRun{"payment-failed-recovery", "hash-a", "name: payment-failed-recovery\n"}};
}

Result<EnqueueResult> enqueue(Store& store, NewEvent event, std::vector<NewRun> runs) {
    Waiter<EnqueueResult> waiter;
    store.enqueue(std::move(event), std::move(runs), waiter.callback());
    return waiter.get();
}

std::vector<ClaimedRun> claim(Store& store, const std::string& owner, std::int64_t now_ms) {
    Waiter<std::vector<ClaimedRun>> waiter;
    store.claim_runs(owner, 10, now_ms, kLeaseMs, waiter.callback());
    auto claimed = waiter.get();
    EXPECT_TRUE(claimed.ok()) << (claimed.ok() ? "" : claimed.error().log_text);
    return claimed.ok() ? std::move(*claimed) : std::vector<ClaimedRun>{};
}

Result<bool> finish(Store& store,
                    const std::string& run_id,
                    const std::string& status,
                    int attempt,
                    std::int64_t next_attempt_at_ms,
                    const std::string& last_error) {
    Waiter<bool> waiter;
    store.finish_run(run_id, status, attempt, next_attempt_at_ms, last_error, waiter.callback());
    return waiter.get();
}

Result<bool> save(Store& store, StepRow step) {
    Waiter<bool> waiter;
    store.save_step(std::move(step), waiter.callback());
    return waiter.get();
}

TEST(SqliteStore, Enqueue_ReadsBackExactly) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);

    auto event = make_event("stripe", "evt_1");
    std::vector<NewRun> runs = {NewRun{"recovery", "hash-a", "name: recovery\n"},
                                NewRun{"notify", "hash-b", "name: notify\n"}};
    auto stored = enqueue(*store, event, runs);
    ASSERT_TRUE(stored.ok()) << stored.error().log_text;
    EXPECT_FALSE(stored->duplicate);
    EXPECT_EQ(stored->runs, 2);
    EXPECT_EQ(stored->event_id.rfind("ev_", 0), 0u);

    auto row = store->get_event(stored->event_id);
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->id, stored->event_id);
    EXPECT_EQ(row->source, "stripe");
    EXPECT_EQ(row->provider, "stripe");
    EXPECT_EQ(row->delivery_id, "evt_1");
    EXPECT_EQ(row->type, "invoice.payment_failed");
    EXPECT_EQ(row->received_at_ms, kStart * 1000 + 7);
    EXPECT_EQ(row->headers_json, event.headers_json);
    EXPECT_EQ(row->body, event.body);

    auto queued = store->runs_for_event(stored->event_id);
    ASSERT_EQ(queued.size(), 2u);
    for (const auto& run : queued) {
        EXPECT_EQ(run.id.rfind("run_", 0), 0u);
        EXPECT_EQ(run.event_id, stored->event_id);
        EXPECT_EQ(run.status, "queued");
        EXPECT_EQ(run.attempt, 0);
        EXPECT_EQ(run.next_attempt_at_ms, kStart * 1000);
        EXPECT_EQ(run.created_at_ms, kStart * 1000);
        EXPECT_EQ(run.lease_owner, "");
    }
    EXPECT_EQ(store->list_events(10).size(), 1u);
    EXPECT_EQ(store->list_runs(10).size(), 2u);
    EXPECT_EQ(store->get_run(queued[0].id)->workflow_hash, queued[0].workflow_hash);
    EXPECT_FALSE(store->get_event("ev_missing").has_value());
    EXPECT_TRUE(store->writable());
}

TEST(SqliteStore, DuplicateDelivery_ReportsFirstEventAndQueuesNothing) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);

    auto first = enqueue(*store, make_event("stripe", "evt_dup"), one_run());
    ASSERT_TRUE(first.ok());
    clock.set_unix(kStart + 5);
    auto again = enqueue(*store, make_event("stripe", "evt_dup"), one_run());
    ASSERT_TRUE(again.ok()) << again.error().log_text;

    EXPECT_TRUE(again->duplicate);
    EXPECT_EQ(again->event_id, first->event_id);
    EXPECT_EQ(again->runs, 0);
    EXPECT_EQ(store->list_events(10).size(), 1u);
    EXPECT_EQ(store->list_runs(10).size(), 1u);
}

TEST(SqliteStore, SameDeliveryIdOtherSource_NotDuplicate) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);

    auto first = enqueue(*store, make_event("stripe", "evt_same"), one_run());
    auto second = enqueue(*store, make_event("stripe-eu", "evt_same"), one_run());
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(second.ok());

    EXPECT_FALSE(second->duplicate);
    EXPECT_NE(second->event_id, first->event_id);
    EXPECT_EQ(second->runs, 1);
    EXPECT_EQ(store->list_events(10).size(), 2u);
}

TEST(SqliteStore, EmptyDeliveryId_NeverDuplicate) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);

    auto first = enqueue(*store, make_event("generic", ""), one_run());
    auto second = enqueue(*store, make_event("generic", ""), one_run());
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(second.ok());

    EXPECT_FALSE(second->duplicate);
    EXPECT_EQ(store->get_event(second->event_id)->delivery_id, "");
    EXPECT_EQ(store->list_events(10).size(), 2u);
}

TEST(SqliteStore, BodyWithNulAndNonUtf8Bytes_RoundTripsByteExactly) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);

    const std::string body("{\"a\":\"\0\"}\xff\xfe\x80\x00tail\xc3", 16);
    ASSERT_EQ(body.size(), 16u);
    auto event = make_event("stripe", "evt_bytes");
    event.body = body;
    auto stored = enqueue(*store, event, {});
    auto empty_event = make_event("stripe", "evt_empty");
    empty_event.body.clear();
    auto stored_empty = enqueue(*store, empty_event, {});
    ASSERT_TRUE(stored.ok());
    ASSERT_TRUE(stored_empty.ok());

    EXPECT_EQ(stored->runs, 0);
    EXPECT_EQ(store->get_event(stored->event_id)->body, body);
    EXPECT_EQ(store->get_event(stored_empty->event_id)->body, "");
}

TEST(SqliteStore, ConcurrentEnqueuesFromThreads_AllCommitted) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);

    constexpr int kThreads = 4;
    constexpr int kPerThread = 50;
    std::atomic<int> accepted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                auto id = "evt_" + std::to_string(t) + "_" + std::to_string(i);
                auto stored = enqueue(*store, make_event("stripe", id), one_run());
                if (stored.ok() && !stored->duplicate && stored->runs == 1) {
                    ++accepted;
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }

    EXPECT_EQ(accepted.load(), kThreads * kPerThread);
    RawDb raw(dir.db());
    EXPECT_EQ(raw.count("SELECT COUNT(*) FROM events"), kThreads * kPerThread);
    EXPECT_EQ(raw.count("SELECT COUNT(*) FROM runs"), kThreads * kPerThread);
    EXPECT_EQ(raw.count("SELECT COUNT(*) FROM workflow_definitions"), 1);
}

TEST(SqliteStore, EnqueuesPendingDuringLock_CommittedInAtMostTwoBatches) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock, 10'000);
    ASSERT_NE(store, nullptr);
    LogCapture logs;

    // With the write lock held elsewhere the writer cannot commit, so every request submitted
    // meanwhile queues up: the first batch holds what it took before blocking, the next the rest.
    RawDb holder(dir.db());
    ASSERT_EQ(holder.exec("BEGIN IMMEDIATE"), SQLITE_OK);
    constexpr int kRequests = 100;
    std::vector<Waiter<EnqueueResult>> waiters(kRequests);
    for (int i = 0; i < kRequests; ++i) {
        store->enqueue(make_event("stripe", "evt_g" + std::to_string(i)),
                       one_run(),
                       waiters[static_cast<std::size_t>(i)].callback());
    }
    ASSERT_EQ(holder.exec("COMMIT"), SQLITE_OK);

    int accepted = 0;
    for (auto& waiter : waiters) {
        auto stored = waiter.get();
        accepted += stored.ok() && !stored->duplicate ? 1 : 0;
    }
    EXPECT_EQ(accepted, kRequests);
    auto batches = logs.lines_with("store batch committed");
    EXPECT_GE(batches.size(), 1u);
    EXPECT_LE(batches.size(), 2u);
    EXPECT_NE(batches.back().find("elapsed_ms="), std::string::npos);
    EXPECT_EQ(RawDb(dir.db()).count("SELECT COUNT(*) FROM events"), kRequests);
}

TEST(SqliteStore, FailingRequestInBatch_OthersStillCommit) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock, 10'000);
    ASSERT_NE(store, nullptr);
    auto base = enqueue(*store, make_event("stripe", "evt_base"), one_run());
    ASSERT_TRUE(base.ok());
    const auto run_id = store->runs_for_event(base->event_id).at(0).id;

    RawDb holder(dir.db());
    ASSERT_EQ(holder.exec("BEGIN IMMEDIATE"), SQLITE_OK);
    Waiter<EnqueueResult> before;
    Waiter<bool> orphan_step;
    Waiter<bool> bad_status;
    Waiter<EnqueueResult> after;
    store->enqueue(make_event("stripe", "evt_before"), one_run(), before.callback());
    store->save_step(StepRow{"run_missing", "a", 0, "succeeded", 1, 1, 2, "{}", "{}", ""},
                     orphan_step.callback());
    store->finish_run(run_id, "exploded", 1, 0, "", bad_status.callback());
    store->enqueue(make_event("stripe", "evt_after"), one_run(), after.callback());
    ASSERT_EQ(holder.exec("COMMIT"), SQLITE_OK);

    auto step = orphan_step.get();
    ASSERT_FALSE(step.ok());
    EXPECT_EQ(step.error().code, Errc::internal);
    EXPECT_NE(step.error().log_text.find("FOREIGN KEY"), std::string::npos);
    auto status = bad_status.get();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, Errc::internal);
    EXPECT_NE(status.error().log_text.find("CHECK constraint failed"), std::string::npos);
    EXPECT_TRUE(before.get().ok());
    EXPECT_TRUE(after.get().ok());
    EXPECT_EQ(store->list_events(10).size(), 3u);
    EXPECT_TRUE(store->steps_for_run("run_missing").empty());
    EXPECT_EQ(store->get_run(run_id)->status, "queued");
}

TEST(SqliteStore, ClaimedRun_NotClaimedAgainUntilLeaseExpires) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    auto event = make_event("stripe", "evt_claim");
    auto stored = enqueue(*store, event, one_run());
    ASSERT_TRUE(stored.ok());

    auto first = claim(*store, "worker-1", clock.now_ms());
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].run.status, "running");
    EXPECT_EQ(first[0].run.attempt, 1);
    EXPECT_EQ(first[0].run.lease_owner, "worker-1");
    EXPECT_EQ(first[0].run.lease_expires_at_ms, clock.now_ms() + kLeaseMs);
    EXPECT_EQ(first[0].event.id, stored->event_id);
    EXPECT_EQ(first[0].event.body, event.body);
    EXPECT_EQ(first[0].definition, "name: payment-failed-recovery\n");
    EXPECT_TRUE(first[0].steps.empty());

    EXPECT_TRUE(claim(*store, "worker-2", clock.now_ms()).empty());
    clock.set_unix(kStart + 30);  // lease ends exactly now: still held
    EXPECT_TRUE(claim(*store, "worker-2", clock.now_ms()).empty());

    clock.set_unix(kStart + 31);
    auto again = claim(*store, "worker-2", clock.now_ms());
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].run.id, first[0].run.id);
    EXPECT_EQ(again[0].run.attempt, 2);
    EXPECT_EQ(again[0].run.lease_owner, "worker-2");
}

TEST(SqliteStore, ClaimOrder_OldestFirstAndBoundedByMax) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 3; ++i) {
        clock.set_unix(kStart + i);
        ASSERT_TRUE(enqueue(*store, make_event("stripe", "evt_o" + std::to_string(i)), one_run()));
    }

    Waiter<std::vector<ClaimedRun>> waiter;
    store->claim_runs("w", 2, clock.now_ms(), kLeaseMs, waiter.callback());
    auto claimed = waiter.get();
    ASSERT_TRUE(claimed.ok());
    ASSERT_EQ(claimed->size(), 2u);
    EXPECT_EQ((*claimed)[0].event.delivery_id, "evt_o0");
    EXPECT_EQ((*claimed)[1].event.delivery_id, "evt_o1");
    auto rest = claim(*store, "w", clock.now_ms());
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].event.delivery_id, "evt_o2");
}

TEST(SqliteStore, FailedRunWithFutureRetry_NotClaimedUntilDue) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(enqueue(*store, make_event("stripe", "evt_retry"), one_run()));
    auto claimed = claim(*store, "w", clock.now_ms());
    ASSERT_EQ(claimed.size(), 1u);
    const auto run_id = claimed[0].run.id;

    clock.set_unix(kStart + 1);
    auto due_at = clock.now_ms() + 60'000;
    auto finished = finish(*store, run_id, "failed", 1, due_at, "crm: 503");
    ASSERT_TRUE(finished.ok());
    EXPECT_TRUE(*finished);
    auto run = store->get_run(run_id);
    ASSERT_TRUE(run.has_value());
    EXPECT_EQ(run->status, "failed");
    EXPECT_EQ(run->last_error, "crm: 503");
    EXPECT_EQ(run->next_attempt_at_ms, due_at);
    EXPECT_EQ(run->lease_owner, "");
    EXPECT_EQ(run->lease_expires_at_ms, 0);
    EXPECT_EQ(run->updated_at_ms, clock.now_ms());

    EXPECT_TRUE(claim(*store, "w", due_at - 1).empty());
    auto retried = claim(*store, "w", due_at);
    ASSERT_EQ(retried.size(), 1u);
    EXPECT_EQ(retried[0].run.attempt, 2);

    auto done = finish(*store, run_id, "succeeded", 2, 0, "");
    ASSERT_TRUE(done.ok());
    EXPECT_TRUE(claim(*store, "w", due_at + 10'000'000).empty());
    auto unknown = finish(*store, "run_missing", "dead", 1, 0, "x");
    ASSERT_TRUE(unknown.ok());
    EXPECT_FALSE(*unknown);
}

TEST(SqliteStore, SavedSteps_ReadBackInPositionOrder) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(enqueue(*store, make_event("stripe", "evt_steps"), one_run()));
    auto claimed = claim(*store, "w", clock.now_ms());
    ASSERT_EQ(claimed.size(), 1u);
    const auto run_id = claimed[0].run.id;

    ASSERT_TRUE(save(*store, StepRow{run_id, "email", 2, "running", 1, 30, 0, "{}", "", ""}));
    ASSERT_TRUE(save(*store,
                     StepRow{run_id,
                             "customer",
                             0,
                             "succeeded",
                             1,
                             10,
                             11,
                             R"({"m":"GET"})",
                             R"({"email":"a@b.c"})",
                             ""}));
    ASSERT_TRUE(
        save(*store, StepRow{run_id, "draft", 1, "failed", 1, 20, 21, "{}", "", "timeout"}));
    ASSERT_TRUE(save(*store, StepRow{run_id, "email", 2, "skipped", 1, 30, 31, "{}", "null", ""}));

    auto steps = store->steps_for_run(run_id);
    ASSERT_EQ(steps.size(), 3u);
    EXPECT_EQ(steps[0].step_id, "customer");
    EXPECT_EQ(steps[0].request_json, R"({"m":"GET"})");
    EXPECT_EQ(steps[0].output_json, R"({"email":"a@b.c"})");
    EXPECT_EQ(steps[0].started_at_ms, 10);
    EXPECT_EQ(steps[0].finished_at_ms, 11);
    EXPECT_EQ(steps[1].step_id, "draft");
    EXPECT_EQ(steps[1].error, "timeout");
    EXPECT_EQ(steps[2].step_id, "email");
    EXPECT_EQ(steps[2].status, "skipped");
    EXPECT_EQ(steps[2].position, 2);

    clock.set_unix(kStart + 60);
    auto again = claim(*store, "w", clock.now_ms());
    ASSERT_EQ(again.size(), 1u);
    ASSERT_EQ(again[0].steps.size(), 3u);
    EXPECT_EQ(again[0].steps[0].status, "succeeded");
}

TEST(SqliteStore, LockedDatabase_StoreUnavailableThenSameEnqueueSucceeds) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock, 100);
    ASSERT_NE(store, nullptr);
    LogCapture logs;

    RawDb holder(dir.db());
    ASSERT_EQ(holder.exec("BEGIN IMMEDIATE"), SQLITE_OK);
    auto refused = enqueue(*store, make_event("stripe", "evt_locked"), one_run());
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, Errc::store_unavailable);
    EXPECT_EQ(refused.error().log_text, "store cannot commit: database is locked");
    EXPECT_TRUE(store->list_events(10).empty());
    EXPECT_FALSE(store->writable());
    auto warnings = logs.lines_with("store commit failed");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("err=\"database is locked\""), std::string::npos);

    ASSERT_EQ(holder.exec("ROLLBACK"), SQLITE_OK);
    auto accepted = enqueue(*store, make_event("stripe", "evt_locked"), one_run());
    ASSERT_TRUE(accepted.ok()) << accepted.error().log_text;
    EXPECT_FALSE(accepted->duplicate);
    EXPECT_EQ(accepted->runs, 1);
    EXPECT_EQ(store->list_events(10).size(), 1u);
    EXPECT_TRUE(store->writable());
}

TEST(SqliteStore, Reopen_KeepsDataAndAppliesNoMigrationTwice) {
    TempDir dir;
    FixedClock clock(kStart);
    std::string event_id;
    {
        auto store = open_store(dir.db(), clock);
        ASSERT_NE(store, nullptr);
        auto stored = enqueue(*store, make_event("stripe", "evt_keep"), one_run());
        ASSERT_TRUE(stored.ok());
        event_id = stored->event_id;
    }
    using Rows = std::vector<std::pair<std::int64_t, std::int64_t>>;
    EXPECT_EQ(RawDb(dir.db()).migrations(), (Rows{{1, kStart * 1000}, {2, kStart * 1000}}));

    FixedClock later(kStart + 3600);
    auto store = open_store(dir.db(), later);
    ASSERT_NE(store, nullptr);
    auto event = store->get_event(event_id);
    ASSERT_TRUE(event.has_value());
    EXPECT_EQ(event->delivery_id, "evt_keep");
    EXPECT_EQ(store->runs_for_event(event_id).size(), 1u);
    EXPECT_EQ(RawDb(dir.db()).migrations(), (Rows{{1, kStart * 1000}, {2, kStart * 1000}}));
    auto duplicate = enqueue(*store, make_event("stripe", "evt_keep"), one_run());
    ASSERT_TRUE(duplicate.ok());
    EXPECT_TRUE(duplicate->duplicate);
}

TEST(SqliteStore, MissingFolder_CreatedOnOpen) {
    TempDir dir;
    FixedClock clock(kStart);
    auto path = (dir.path() / "var" / "data" / "hookflow.db").string();
    auto store = open_store(path, clock);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(RawDb(path).text("PRAGMA journal_mode"), "wal");
}

TEST(SqliteStore, Callbacks_RunOnWriterThreadAndCloseDrainsPending) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);

    constexpr int kRequests = 20;
    std::atomic<int> completed{0};
    std::atomic<int> inline_calls{0};
    const auto test_thread = std::this_thread::get_id();
    for (int i = 0; i < kRequests; ++i) {
        store->enqueue(make_event("stripe", "evt_c" + std::to_string(i)),
                       one_run(),
                       [&](Result<EnqueueResult> result) {
                           inline_calls += std::this_thread::get_id() == test_thread ? 1 : 0;
                           completed += result.ok() ? 1 : 0;
                       });
    }
    store->close();

    EXPECT_EQ(completed.load(), kRequests);
    EXPECT_EQ(inline_calls.load(), 0);
    EXPECT_EQ(store->list_events(100).size(), static_cast<std::size_t>(kRequests));
    auto late = enqueue(*store, make_event("stripe", "evt_late"), one_run());
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.error().code, Errc::store_unavailable);
}

}  // namespace

namespace {

NewRun keyed_run(const std::string& key, int limit, GuardValue guard = {}) {
    NewRun run{"sync", "hash-s", "name: sync\n"};
    run.concurrency_key = key;
    run.concurrency_limit = limit;
    run.stale_guard = std::move(guard);
    return run;
}

/// Enqueues one event with one run; the run's id.
std::string enqueue_keyed(Store& store, const std::string& delivery_id, NewRun run) {
    auto stored = enqueue(store, make_event("stripe", delivery_id), {std::move(run)});
    EXPECT_TRUE(stored.ok());
    auto runs = store.runs_for_event(stored->event_id);
    EXPECT_EQ(runs.size(), 1u);
    return runs.empty() ? std::string() : runs[0].id;
}

std::vector<std::string> claimed_ids(Store& store, std::int64_t now_ms) {
    std::vector<std::string> ids;
    for (const auto& run : claim(store, "w", now_ms)) {
        ids.push_back(run.run.id);
    }
    return ids;
}

}  // namespace

TEST(SqliteStore, ConcurrencyLimitOne_OneRunningPerKeyInArrivalOrder) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    // Same millisecond on purpose: arrival order must still hold.
    auto a = enqueue_keyed(*store, "evt_a", keyed_run("sub_1", 1));
    auto b = enqueue_keyed(*store, "evt_b", keyed_run("sub_1", 1));
    auto c = enqueue_keyed(*store, "evt_c", keyed_run("sub_1", 1));
    auto other = enqueue_keyed(*store, "evt_d", keyed_run("sub_2", 1));

    EXPECT_EQ(claimed_ids(*store, clock.now_ms()), (std::vector<std::string>{a, other}));
    EXPECT_TRUE(claimed_ids(*store, clock.now_ms()).empty());

    ASSERT_TRUE(finish(*store, other, "succeeded", 1, 0, ""));
    ASSERT_TRUE(finish(*store, a, "succeeded", 1, 0, ""));
    EXPECT_EQ(claimed_ids(*store, clock.now_ms()), (std::vector<std::string>{b}));

    // b fails and waits for its retry: c must not overtake it.
    ASSERT_TRUE(finish(*store, b, "failed", 1, clock.now_ms() + 60'000, "crm 503"));
    EXPECT_TRUE(claimed_ids(*store, clock.now_ms()).empty());
    EXPECT_EQ(claimed_ids(*store, clock.now_ms() + 60'000), (std::vector<std::string>{b}));
    ASSERT_TRUE(finish(*store, b, "dead", 2, 0, "crm 503"));
    EXPECT_EQ(claimed_ids(*store, clock.now_ms()), (std::vector<std::string>{c}));
}

TEST(SqliteStore, ConcurrencyLimitTwo_AtMostTwoRunning) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        ids.push_back(enqueue_keyed(*store, "evt_l" + std::to_string(i), keyed_run("k", 2)));
    }
    EXPECT_EQ(claimed_ids(*store, clock.now_ms()), (std::vector<std::string>{ids[0], ids[1]}));
    EXPECT_TRUE(claimed_ids(*store, clock.now_ms()).empty());
    // A holder whose lease expired no longer counts; it is claimed again itself.
    auto later = clock.now_ms() + kLeaseMs + 1;
    EXPECT_EQ(claimed_ids(*store, later), (std::vector<std::string>{ids[0], ids[1]}));
    ASSERT_TRUE(finish(*store, ids[0], "succeeded", 2, 0, ""));
    EXPECT_EQ(claimed_ids(*store, later), (std::vector<std::string>{ids[2]}));
}

TEST(SqliteStore, OlderGuardAfterNewerExecuted_RecordedStale) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    // E7: the update (created 1700000001) arrives before the create (1700000000).
    auto updated = enqueue_keyed(*store, "evt_FAKE016B", keyed_run("sub_FAKE016", 1, 1700000001.0));
    auto created = enqueue_keyed(*store, "evt_FAKE016A", keyed_run("sub_FAKE016", 1, 1700000000.0));
    auto same = enqueue_keyed(*store, "evt_same", keyed_run("sub_FAKE016", 1, 1700000001.0));
    auto other_key = enqueue_keyed(*store, "evt_x", keyed_run("sub_other", 1, 1.0));

    EXPECT_EQ(claimed_ids(*store, clock.now_ms()), (std::vector<std::string>{updated, other_key}));
    ASSERT_TRUE(finish(*store, updated, "succeeded", 1, 0, ""));

    EXPECT_EQ(claimed_ids(*store, clock.now_ms()), (std::vector<std::string>{same}));
    auto stale = store->get_run(created);
    ASSERT_TRUE(stale.has_value());
    EXPECT_EQ(stale->status, "stale");
    EXPECT_EQ(stale->attempt, 0);
    EXPECT_EQ(stale->last_error, "stale: a run with a newer guard value already executed");
    EXPECT_EQ(store->runs_with_status("stale", 10).size(), 1u);
}

TEST(SqliteStore, TextGuards_ComparedAsText) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    auto newer =
        enqueue_keyed(*store, "evt_t1", keyed_run("k", 1, std::string("2026-12-04T10:00:00Z")));
    auto older =
        enqueue_keyed(*store, "evt_t2", keyed_run("k", 1, std::string("2026-12-04T09:00:00Z")));
    EXPECT_EQ(claimed_ids(*store, clock.now_ms()), (std::vector<std::string>{newer}));
    ASSERT_TRUE(finish(*store, newer, "succeeded", 1, 0, ""));
    EXPECT_TRUE(claimed_ids(*store, clock.now_ms()).empty());
    EXPECT_EQ(store->get_run(older)->status, "stale");
}

TEST(SqliteStore, RetryDeadRun_GivesFailedStepFreshAttempts) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(enqueue(*store, make_event("stripe", "evt_dead"), one_run()));
    auto claimed = claim(*store, "w", clock.now_ms());
    ASSERT_EQ(claimed.size(), 1u);
    const auto run_id = claimed[0].run.id;
    ASSERT_TRUE(save(*store, StepRow{run_id, "a", 0, "succeeded", 1, 1, 2, "{}", "{}", ""}));
    ASSERT_TRUE(save(*store, StepRow{run_id, "b", 1, "failed", 5, 3, 4, "{}", "null", "crm 503"}));
    ASSERT_TRUE(finish(*store, run_id, "dead", 5, 0, "crm 503"));

    Waiter<bool> waiter;
    store->retry_run(run_id, waiter.callback());
    auto retried = waiter.get();
    ASSERT_TRUE(retried.ok());
    EXPECT_TRUE(*retried);
    auto steps = store->steps_for_run(run_id);
    ASSERT_EQ(steps.size(), 2u);
    EXPECT_EQ(steps[0].attempt, 1);  // succeeded: kept as it was
    EXPECT_EQ(steps[1].attempt, 0);  // failed: the next try is its first again
    EXPECT_EQ(store->get_run(run_id)->status, "queued");
}

TEST(SqliteStore, ReleasedRun_QueuedDueNowWithAttemptGivenBack) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(enqueue(*store, make_event("stripe", "evt_rel"), one_run()));
    auto claimed = claim(*store, "w", clock.now_ms());
    ASSERT_EQ(claimed.size(), 1u);
    Waiter<bool> other;
    store->release_run(claimed[0].run.id, "someone-else", other.callback());
    EXPECT_FALSE(*other.get());
    Waiter<bool> mine;
    store->release_run(claimed[0].run.id, "w", mine.callback());
    EXPECT_TRUE(*mine.get());
    auto again = claim(*store, "w2", clock.now_ms());
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].run.attempt, 1);
}

namespace {

using hookflow::store::CancelResult;
using hookflow::store::EventFilter;
using hookflow::store::PageRequest;
using hookflow::store::RunFilter;

NewEvent event_at(const std::string& source,
                  const std::string& delivery_id,
                  const std::string& type,
                  std::int64_t received_ms) {
    auto event = make_event(source, delivery_id);
    event.type = type;
    event.received_at_ms = received_ms;
    return event;
}

std::vector<std::string> ids_of(const std::vector<hookflow::store::EventRow>& rows) {
    std::vector<std::string> ids;
    for (const auto& row : rows) {
        ids.push_back(row.id);
    }
    return ids;
}

Result<CancelResult> cancel(Store& store, const std::string& run_id) {
    Waiter<CancelResult> waiter;
    store.cancel_run(run_id, waiter.callback());
    return waiter.get();
}

}  // namespace

TEST(SqliteStore, FindEvents_FiltersBySourceTypeAndTimeRange) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    // Ids (the listing order) follow the store's clock, so each event is stored a second later.
    ASSERT_TRUE(enqueue(*store, event_at("stripe", "e1", "invoice.paid", 1000), {}));
    clock.set_unix(kStart + 1);
    ASSERT_TRUE(enqueue(*store, event_at("stripe", "e2", "invoice.payment_failed", 2000), {}));
    clock.set_unix(kStart + 2);
    ASSERT_TRUE(enqueue(*store, event_at("github", "e3", "push", 3000), {}));

    auto by_source = store->find_events(EventFilter{"stripe", "", {}, {}}, PageRequest{"", 10});
    ASSERT_TRUE(by_source.ok());
    ASSERT_EQ(by_source->items.size(), 2u);
    EXPECT_EQ(by_source->items[0].delivery_id, "e2");  // newest first
    EXPECT_EQ(by_source->items[1].delivery_id, "e1");
    EXPECT_FALSE(by_source->more);

    auto by_type = store->find_events(EventFilter{"", "push", {}, {}}, PageRequest{"", 10});
    ASSERT_EQ(by_type->items.size(), 1u);
    EXPECT_EQ(by_type->items[0].delivery_id, "e3");

    // since is inclusive, until exclusive.
    auto range = store->find_events(EventFilter{"", "", 2000, 3000}, PageRequest{"", 10});
    ASSERT_EQ(range->items.size(), 1u);
    EXPECT_EQ(range->items[0].delivery_id, "e2");
}

TEST(SqliteStore, FindEventsPaged_EveryRowOnceAcrossPagesDespiteInserts) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    std::vector<std::string> stored;
    for (int i = 0; i < 7; ++i) {
        clock.set_unix(kStart + i);
        auto done = enqueue(*store, make_event("stripe", "p" + std::to_string(i)), {});
        ASSERT_TRUE(done.ok());
        stored.insert(stored.begin(), done->event_id);  // newest first
    }

    std::vector<std::string> seen;
    PageRequest page{"", 3};
    for (int round = 0; round < 5; ++round) {
        auto found = store->find_events(EventFilter{}, page);
        ASSERT_TRUE(found.ok());
        auto ids = ids_of(found->items);
        seen.insert(seen.end(), ids.begin(), ids.end());
        // A delivery arriving between pages must not shift the pages still to come.
        clock.set_unix(kStart + 100 + round);
        ASSERT_TRUE(enqueue(*store, make_event("stripe", "late" + std::to_string(round)), {}));
        if (!found->more) {
            break;
        }
        page.before_id = found->items.back().id;
    }
    EXPECT_EQ(seen, stored);
}

TEST(SqliteStore, FindRuns_FiltersByWorkflowStatusAndEvent) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    std::vector<NewRun> two = {NewRun{"recovery", "hash-a", "name: recovery\n"},
                               NewRun{"notify", "hash-b", "name: notify\n"}};
    auto first = enqueue(*store, make_event("stripe", "r1"), two);
    auto second = enqueue(*store, make_event("stripe", "r2"), two);
    ASSERT_TRUE(first.ok() && second.ok());
    auto runs = store->runs_for_event(first->event_id);
    ASSERT_TRUE(finish(*store, runs[0].id, "dead", 5, 0, "gone"));

    auto recovery = store->find_runs(RunFilter{"recovery", "", ""}, PageRequest{"", 10});
    ASSERT_EQ(recovery->items.size(), 2u);
    auto dead = store->find_runs(RunFilter{"", "dead", ""}, PageRequest{"", 10});
    ASSERT_EQ(dead->items.size(), 1u);
    EXPECT_EQ(dead->items[0].id, runs[0].id);
    auto of_event = store->find_runs(RunFilter{"", "", second->event_id}, PageRequest{"", 1});
    ASSERT_EQ(of_event->items.size(), 1u);
    EXPECT_TRUE(of_event->more);

    auto counts = store->count_runs_by_status();
    ASSERT_TRUE(counts.ok());
    std::vector<std::pair<std::string, std::int64_t>> expected = {{"dead", 1}, {"queued", 3}};
    EXPECT_EQ(*counts, expected);
}

TEST(SqliteStore, CancelRun_QueuedAndRunningCancelledFinishedLeftAlone) {
    TempDir dir;
    FixedClock clock(kStart);
    auto store = open_store(dir.db(), clock);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(enqueue(*store, make_event("stripe", "c1"), one_run()));
    ASSERT_TRUE(enqueue(*store, make_event("stripe", "c2"), one_run()));
    auto claimed = claim(*store, "w", clock.now_ms());
    ASSERT_EQ(claimed.size(), 2u);
    const auto running = claimed[0].run.id;
    const auto done = claimed[1].run.id;
    ASSERT_TRUE(finish(*store, done, "succeeded", 1, 0, ""));

    auto cancelled = cancel(*store, running);
    ASSERT_TRUE(cancelled.ok());
    EXPECT_EQ(cancelled->previous_status, "running");
    EXPECT_TRUE(cancelled->cancelled);
    EXPECT_EQ(store->get_run(running)->status, "cancelled");
    EXPECT_EQ(store->get_run(running)->lease_owner, "");

    // The worker that held it cannot overwrite the cancel with its outcome.
    ASSERT_TRUE(finish(*store, running, "succeeded", 1, 0, ""));
    EXPECT_EQ(store->get_run(running)->status, "cancelled");

    auto finished = cancel(*store, done);
    EXPECT_EQ(finished->previous_status, "succeeded");
    EXPECT_FALSE(finished->cancelled);
    EXPECT_EQ(store->get_run(done)->status, "succeeded");
    EXPECT_EQ(cancel(*store, "run_missing")->previous_status, "");
}
