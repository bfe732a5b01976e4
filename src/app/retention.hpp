#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <hookflow/common/clock.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::app {

/// `storage.retention_days`: shortly after start and then every hour, deletes finished runs and
/// the events left without runs that are older than the retention, in small batches through
/// the store's writer (a pause between batches lets deliveries through).
class Retention : public std::enable_shared_from_this<Retention> {
  public:
    Retention(boost::asio::any_io_executor executor,
              store::Store& store,
              const Clock& clock,
              int days);

    /// Schedules the first pass.
    void start();

    /// Cancels the timer; a batch in the writer finishes, nothing new starts.
    void stop();

  private:
    void schedule(std::chrono::milliseconds delay);
    void run_batch();
    void on_batch(Result<store::PurgeResult> result);

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    boost::asio::steady_timer timer_;
    store::Store& store_;
    const Clock& clock_;
    std::int64_t retention_ms_;
    bool stopped_ = false;
    // The pass in progress.
    std::int64_t cutoff_ms_ = 0;
    std::int64_t pass_started_ms_ = 0;
    std::int64_t runs_ = 0;
    std::int64_t events_ = 0;
};

}  // namespace hookflow::app
