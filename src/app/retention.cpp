#include "app/retention.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <hookflow/common/log.hpp>

namespace hookflow::app {

namespace asio = boost::asio;

namespace {

// The first pass waits for start-up recovery to settle; later passes run hourly.
constexpr auto kFirstDelay = std::chrono::seconds(5);
constexpr auto kInterval = std::chrono::hours(1);
constexpr auto kRetryDelay = std::chrono::minutes(1);
// Small batches with a pause between them: each batch shares a writer transaction with
// deliveries, so a large purge never holds ingest for long.
constexpr int kBatchRows = 500;
constexpr auto kBatchPause = std::chrono::milliseconds(50);
constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

}  // namespace

Retention::Retention(asio::any_io_executor executor,
                     store::Store& store,
                     const Clock& clock,
                     int days)
    : strand_(asio::make_strand(executor)),
      timer_(strand_),
      store_(store),
      clock_(clock),
      retention_ms_(days * kDayMs) {}

void Retention::start() {
    asio::post(strand_, [self = shared_from_this()] { self->schedule(kFirstDelay); });
}

void Retention::stop() {
    asio::post(strand_, [self = shared_from_this()] {
        self->stopped_ = true;
        self->timer_.cancel();
    });
}

void Retention::schedule(std::chrono::milliseconds delay) {
    if (stopped_) {
        return;
    }
    timer_.expires_after(delay);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || self->stopped_) {
            return;
        }
        if (self->cutoff_ms_ == 0) {
            self->cutoff_ms_ = self->clock_.now_ms() - self->retention_ms_;
            self->pass_started_ms_ = self->clock_.now_ms();
        }
        self->run_batch();
    });
}

void Retention::run_batch() {
    // The callback comes on the store's writer thread; the rest of the pass runs on the strand.
    store_.purge_finished(cutoff_ms_, kBatchRows, [weak = weak_from_this()](auto result) {
        if (auto self = weak.lock()) {
            asio::post(self->strand_, [self, result = std::move(result)]() mutable {
                self->on_batch(std::move(result));
            });
        }
    });
}

void Retention::on_batch(Result<store::PurgeResult> result) {
    if (!result) {
        spdlog::warn("retention batch failed {}", logf::field(logf::kErr, result.error().log_text));
        cutoff_ms_ = 0;
        schedule(kRetryDelay);
        return;
    }
    runs_ += result->runs;
    events_ += result->events;
    if (result->runs == kBatchRows || result->events == kBatchRows) {
        schedule(kBatchPause);
        return;
    }
    auto level = runs_ + events_ > 0 ? spdlog::level::info : spdlog::level::debug;
    spdlog::log(level,
                "retention deleted {} {} {}",
                logf::field("events", events_),
                logf::field(logf::kRuns, runs_),
                logf::field(logf::kElapsedMs, clock_.now_ms() - pass_started_ms_));
    cutoff_ms_ = 0;
    runs_ = 0;
    events_ = 0;
    schedule(kInterval);
}

}  // namespace hookflow::app
