#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "sqlite_db.hpp"
#include <hookflow/common/result.hpp>

namespace hookflow::store::detail {

/// One write request: its work inside the batch transaction, then its completion.
struct WriteJob {
    /// Runs inside the batch; false when this request failed (its changes are rolled back).
    std::function<bool(Connection&)> apply;
    /// Called after the batch ends: null after COMMIT, else the error that failed the batch.
    std::function<void(const Error*)> complete;
};

/// The thread that owns the write connection and commits pending requests in groups: one
/// BEGIN IMMEDIATE ... COMMIT per batch, one SAVEPOINT per request.
class Writer {
  public:
    /// Starts the thread; `max_batch` bounds the requests committed together.
    Writer(Connection db, int max_batch);
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    ~Writer();

    /// Queues a job; false (job untouched) when the writer has been stopped.
    bool submit(WriteJob& job);

    /// Finishes every queued job, then stops and joins the thread. Idempotent.
    void stop();

  private:
    void loop();
    std::vector<WriteJob> take_batch();
    void run_batch(std::vector<WriteJob>& batch);
    Result<void> apply_in_savepoint(WriteJob& job);
    void fail_batch(std::vector<WriteJob>& batch, const std::string& cause);

    Connection db_;
    std::size_t max_batch_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<WriteJob> pending_;
    bool stopping_ = false;
    std::mutex stop_mutex_;
    std::thread thread_;
};

}  // namespace hookflow::store::detail
