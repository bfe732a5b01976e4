#include "writer.hpp"

#include <chrono>
#include <exception>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include <hookflow/common/log.hpp>
#include <hookflow/common/metrics.hpp>

namespace hookflow::store::detail {

namespace {

// Log field for the number of requests in a batch; local until log.hpp gains one.
constexpr std::string_view kBatchField = "batch";

long long batch_size(const std::vector<WriteJob>& batch) {
    return static_cast<long long>(batch.size());
}

// A job or a callback that throws must not take the writer thread (and every later write)
// down with it.
bool apply_guarded(WriteJob& job, Connection& db) {
    try {
        return job.apply(db);
    } catch (const std::exception& e) {
        spdlog::error("store request threw {}", logf::field(logf::kErr, e.what()));
    } catch (...) {
        spdlog::error("store request threw {}", logf::field(logf::kErr, "unknown exception"));
    }
    return false;
}

void complete_guarded(WriteJob& job, const Error* error) {
    try {
        job.complete(error);
    } catch (const std::exception& e) {
        spdlog::error("store callback threw {}", logf::field(logf::kErr, e.what()));
    } catch (...) {
        spdlog::error("store callback threw {}", logf::field(logf::kErr, "unknown exception"));
    }
}

}  // namespace

Writer::Writer(Connection db, int max_batch)
    : db_(std::move(db)), max_batch_(static_cast<std::size_t>(max_batch > 0 ? max_batch : 1)) {
    thread_ = std::thread([this] { loop(); });
}

Writer::~Writer() {
    stop();
}

bool Writer::submit(WriteJob& job) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return false;
        }
        pending_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

void Writer::stop() {
    std::lock_guard stop_lock(stop_mutex_);
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    // Limitation: close() from inside a store callback cannot join its own thread; destroying
    // the store from such a callback terminates the process.
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
        thread_.join();
    }
}

void Writer::loop() {
    while (true) {
        auto batch = take_batch();
        if (batch.empty()) {
            return;
        }
        run_batch(batch);
    }
}

std::vector<WriteJob> Writer::take_batch() {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    std::vector<WriteJob> batch;
    while (!pending_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
    }
    return batch;
}

void Writer::run_batch(std::vector<WriteJob>& batch) {
    auto started = std::chrono::steady_clock::now();
    if (auto begun = db_.exec("BEGIN IMMEDIATE"); !begun) {
        fail_batch(batch, begun.error().log_text);
        return;
    }

    for (auto& job : batch) {
        if (auto applied = apply_in_savepoint(job); !applied) {
            fail_batch(batch, applied.error().log_text);
            return;
        }
    }

    if (auto committed = db_.exec("COMMIT"); !committed) {
        fail_batch(batch, committed.error().log_text);
        return;
    }
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    metrics::record_commit(took.count(), batch.size());
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    spdlog::debug("store batch committed {} {}",
                  logf::field(kBatchField, batch_size(batch)),
                  logf::field(logf::kElapsedMs, static_cast<long long>(elapsed)));
    for (auto& job : batch) {
        complete_guarded(job, nullptr);
    }
}

// The savepoint confines a request's failure (a constraint, say) to that request. An error
// only when the transaction itself is gone, which fails the whole batch.
Result<void> Writer::apply_in_savepoint(WriteJob& job) {
    if (auto opened = db_.exec("SAVEPOINT request"); !opened) {
        return opened;
    }
    bool ok = apply_guarded(job, db_);
    if (db_.autocommit()) {
        // SQLite rolls the whole transaction back by itself on some errors (full disk, I/O).
        return make_error(Errc::store_unavailable, "transaction rolled back: " + db_.message());
    }
    if (!ok) {
        if (auto undone = db_.exec("ROLLBACK TO request"); !undone) {
            return undone;
        }
    }
    return db_.exec("RELEASE request");
}

void Writer::fail_batch(std::vector<WriteJob>& batch, const std::string& cause) {
    if (!db_.autocommit()) {
        (void)db_.exec("ROLLBACK");
    }
    metrics::record_commit_failure();
    spdlog::warn("store commit failed {} {}",
                 logf::field(logf::kErr, cause),
                 logf::field(kBatchField, batch_size(batch)));
    auto error =
        make_error(Errc::store_unavailable, "store cannot commit: " + cause, "store unavailable");
    for (auto& job : batch) {
        complete_guarded(job, &error);
    }
}

}  // namespace hookflow::store::detail
