#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <hookflow/common/clock.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/engine/engine.hpp>
#include <hookflow/engine/workflow.hpp>
#include <hookflow/store/store.hpp>

namespace {

// The fake connector is named `stripe` but reads no Stripe fields: give it a type of its own
// so the action table's required fields do not apply to it.
hookflow::engine::RunSettings fake_settings() {
    hookflow::engine::RunSettings settings;
    settings.connector_types["stripe"] = "fake";
    return settings;
}

namespace asio = boost::asio;
using hookflow::Result;
using hookflow::connectors::StepCall;
using hookflow::connectors::StepResult;
using hookflow::store::ClaimedRun;
using hookflow::store::StepRow;
using nlohmann::json;

constexpr std::int64_t kNow = 1'700'000'000;

/// What finish_run was told.
struct Finished {
    std::string run_id;
    std::string status;
    int attempt = 0;
    std::int64_t next_attempt_at_ms = 0;
    std::string last_error;
};

/// A store that hands out prepared runs once and completes every callback on its own thread.
class FakeStore final : public hookflow::store::Store {
  public:
    FakeStore() : worker_([this] { work(); }) {}
    ~FakeStore() override { close(); }

    void add_run(ClaimedRun run) {
        std::lock_guard lock(mutex_);
        queued_.push_back(std::move(run));
    }

    void enqueue(hookflow::store::NewEvent,
                 std::vector<hookflow::store::NewRun>,
                 hookflow::store::Callback<hookflow::store::EnqueueResult> done) override {
        submit([done] { done(hookflow::store::EnqueueResult{}); });
    }

    void claim_runs(std::string owner,
                    int max,
                    std::int64_t,
                    std::int64_t lease_ms,
                    hookflow::store::Callback<std::vector<ClaimedRun>> done) override {
        submit([this, owner, max, lease_ms, done] {
            std::vector<ClaimedRun> claimed;
            {
                std::lock_guard lock(mutex_);
                while (!queued_.empty() && static_cast<int>(claimed.size()) < max) {
                    claimed.push_back(std::move(queued_.front()));
                    queued_.pop_front();
                }
                owner_ = owner;
                lease_ms_ = lease_ms;
            }
            done(std::move(claimed));
        });
    }

    void save_step(StepRow step, hookflow::store::Callback<bool> done) override {
        submit([this, step, done] {
            bool fail = false;
            {
                std::lock_guard lock(mutex_);
                fail = fail_saves_;
                if (!fail) {
                    saved_.push_back(step);
                }
            }
            if (fail) {
                done(hookflow::make_error(hookflow::Errc::store_unavailable, "disk I/O error"));
            } else {
                done(true);
            }
        });
    }

    void finish_run(std::string run_id,
                    std::string status,
                    int attempt,
                    std::int64_t next_attempt_at_ms,
                    std::string last_error,
                    hookflow::store::Callback<bool> done) override {
        submit([=, this] {
            {
                std::lock_guard lock(mutex_);
                finished_.push_back(
                    Finished{run_id, status, attempt, next_attempt_at_ms, last_error});
            }
            done(true);
        });
    }

    bool writable() override { return true; }
    std::vector<hookflow::store::EventRow> list_events(int) override { return {}; }
    std::optional<hookflow::store::EventRow> get_event(const std::string&) override { return {}; }
    std::vector<hookflow::store::RunRow> list_runs(int) override { return {}; }
    std::vector<hookflow::store::RunRow> runs_for_event(const std::string&) override { return {}; }
    std::optional<hookflow::store::RunRow> get_run(const std::string&) override { return {}; }
    std::vector<StepRow> steps_for_run(const std::string&) override { return {}; }
    void renew_lease(std::string run_id,
                     std::string,
                     std::int64_t until_ms,
                     hookflow::store::Callback<bool> done) override {
        submit([this, run_id, until_ms, done] {
            bool keep = false;
            {
                std::lock_guard lock(mutex_);
                renewals_.emplace_back(run_id, until_ms);
                keep = keep_lease_;
            }
            done(keep);
        });
    }
    void release_run(std::string run_id,
                     std::string,
                     hookflow::store::Callback<bool> done) override {
        submit([this, run_id, done] {
            {
                std::lock_guard lock(mutex_);
                released_.push_back(run_id);
            }
            done(true);
        });
    }
    void retry_run(std::string, hookflow::store::Callback<bool> done) override {
        submit([done] { done(false); });
    }
    void add_runs(std::string,
                  std::vector<hookflow::store::NewRun>,
                  hookflow::store::Callback<std::vector<std::string>> done) override {
        submit([done] { done(std::vector<std::string>{}); });
    }
    std::vector<hookflow::store::RunRow> runs_with_status(const std::string&, int) override {
        return {};
    }

    void close() override {
        {
            std::lock_guard lock(mutex_);
            closing_ = true;
        }
        wake_.notify_all();
        if (worker_.joinable()) {
            worker_.join();
        }
    }

    std::vector<Finished> finished() const {
        std::lock_guard lock(mutex_);
        return finished_;
    }
    std::vector<StepRow> saved() const {
        std::lock_guard lock(mutex_);
        return saved_;
    }
    std::int64_t lease_ms() const {
        std::lock_guard lock(mutex_);
        return lease_ms_;
    }
    std::size_t queued() const {
        std::lock_guard lock(mutex_);
        return queued_.size();
    }
    std::vector<std::pair<std::string, std::int64_t>> renewals() const {
        std::lock_guard lock(mutex_);
        return renewals_;
    }
    std::vector<std::string> released() const {
        std::lock_guard lock(mutex_);
        return released_;
    }
    void set_keep_lease(bool keep) {
        std::lock_guard lock(mutex_);
        keep_lease_ = keep;
    }
    void set_fail_saves(bool fail) {
        std::lock_guard lock(mutex_);
        fail_saves_ = fail;
    }

  private:
    void submit(std::function<void()> task) {
        {
            std::lock_guard lock(mutex_);
            tasks_.push_back(std::move(task));
        }
        wake_.notify_one();
    }

    void work() {
        std::unique_lock lock(mutex_);
        while (true) {
            wake_.wait(lock, [this] { return closing_ || !tasks_.empty(); });
            if (tasks_.empty()) {
                return;
            }
            auto task = std::move(tasks_.front());
            tasks_.pop_front();
            lock.unlock();
            task();
            lock.lock();
        }
    }

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;
    std::deque<ClaimedRun> queued_;
    std::vector<StepRow> saved_;
    std::vector<Finished> finished_;
    std::string owner_;
    std::int64_t lease_ms_ = 0;
    std::vector<std::pair<std::string, std::int64_t>> renewals_;
    std::vector<std::string> released_;
    bool keep_lease_ = true;
    bool fail_saves_ = false;
    bool closing_ = false;
    std::thread worker_;
};

/// A connector whose answers the test scripts per step id; it records every call.
class FakeConnector final : public hookflow::connectors::Connector {
  public:
    explicit FakeConnector(std::string name) : name_(std::move(name)) {}

    const std::string& name() const override { return name_; }
    bool has_action(std::string_view action) const override { return action == "request"; }

    asio::awaitable<StepResult> call(const StepCall& call) override {
        calls.push_back(call);
        if (auto delay = delays.find(call.step_id); delay != delays.end()) {
            asio::steady_timer timer(co_await asio::this_coro::executor, delay->second);
            boost::system::error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                cancelled.push_back(call.step_id);
            }
        }
        auto scripted = results.find(call.step_id);
        if (scripted != results.end()) {
            co_return scripted->second;
        }
        StepResult ok;
        ok.ok = true;
        ok.http_status = 200;
        ok.output = {{"echo", call.with}};
        ok.request = {{"method", "GET"}};
        co_return ok;
    }

    std::vector<StepCall> calls;
    std::map<std::string, StepResult> results;
    std::map<std::string, std::chrono::milliseconds> delays;  // answer only after this long
    std::vector<std::string> cancelled;                       // calls whose wait was cancelled

  private:
    std::string name_;
};

const std::string kWorkflow = R"(name: recovery
on:
  source: stripe
  events: [invoice.*]
steps:
  - id: customer
    uses: stripe.request
    with:
      path: /v1/customers/${{ event.data.object.customer }}
      amount: ${{ event.data.object.amount_due }}
  - id: notify
    uses: stripe.request
    if: ${{ steps.customer.output.echo.amount > 5000 }}
    with:
      text: big
  - id: email
    uses: stripe.request
    with:
      to: ${{ steps.customer.output.echo.path }}
      from: ${{ delivery.headers['x-from'] }}
      attempt: ${{ run.attempt }}
)";

ClaimedRun make_run(const std::string& id, int attempt, const std::string& definition = kWorkflow) {
    ClaimedRun claimed;
    claimed.run.id = id;
    claimed.run.event_id = "ev_1";
    claimed.run.workflow = "recovery";
    claimed.run.status = "running";
    claimed.run.attempt = attempt;
    claimed.event.id = "ev_1";
    claimed.event.source = "stripe";
    claimed.event.provider = "stripe";
    claimed.event.delivery_id = "evt_1";
    claimed.event.type = "invoice.payment_failed";
    claimed.event.received_at_ms = kNow * 1000;
    claimed.event.headers_json = R"([["X-From","billing@example.com"],["x-from","second"]])";
    claimed.event.body = R"({"data":{"object":{"customer":"cus_9","amount_due":2000}}})";
    claimed.definition = definition;
    return claimed;
}

/// A step row a previous attempt left failed.
StepRow failed_row(const std::string& run_id, const std::string& step_id, int attempt) {
    StepRow row;
    row.run_id = run_id;
    row.step_id = step_id;
    row.status = "failed";
    row.attempt = attempt;
    row.error = "earlier failure";
    return row;
}

/// An engine over a fake store and one fake `stripe` connector, run on a private io_context.
class EngineFixture : public ::testing::Test {
  protected:
    EngineFixture() : clock_(kNow) {
        auto connector = std::make_unique<FakeConnector>("stripe");
        connector_ = connector.get();
        registry_.add(std::move(connector));
        config_.workers = 4;
        config_.max_attempts = 3;
        config_.lease_seconds = 30;
        config_.poll_interval_ms = 5;
    }

    // Runs the engine until `runs` runs finished, or 5 seconds passed.
    std::vector<Finished> run_engine(std::size_t runs) {
        hookflow::engine::Engine engine(io_.get_executor(), store_, registry_, config_, clock_);
        engine.configure(fake_settings());
        engine.start();
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (store_.finished().size() < runs && std::chrono::steady_clock::now() < deadline) {
            io_.run_for(std::chrono::milliseconds(10));
        }
        engine.stop();
        io_.run_for(std::chrono::milliseconds(20));
        EXPECT_EQ(engine.in_flight(), 0);
        return store_.finished();
    }

    // Turns the io_context until `done()` holds or 5 seconds passed; false on the timeout.
    template <class Done>
    bool run_until(Done done) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            io_.run_for(std::chrono::milliseconds(2));
        }
        return done();
    }

    asio::io_context io_;
    hookflow::FixedClock clock_;
    FakeStore store_;
    hookflow::connectors::Registry registry_;
    FakeConnector* connector_ = nullptr;
    hookflow::config::EngineConfig config_;
};

TEST_F(EngineFixture, Run_ExecutesStepsInOrderWithRenderedWith) {
    store_.add_run(make_run("run_1", 1));
    auto finished = run_engine(1);

    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].run_id, "run_1");
    EXPECT_EQ(finished[0].status, "succeeded");
    EXPECT_EQ(finished[0].attempt, 1);
    EXPECT_EQ(finished[0].last_error, "");
    EXPECT_EQ(store_.lease_ms(), 30000);

    ASSERT_EQ(connector_->calls.size(), 2u);
    EXPECT_EQ(connector_->calls[0].step_id, "customer");
    EXPECT_EQ(connector_->calls[0].run_id, "run_1");
    EXPECT_EQ(connector_->calls[0].action, "request");
    EXPECT_EQ(connector_->calls[0].attempt, 1);
    EXPECT_EQ(connector_->calls[0].with, json({{"path", "/v1/customers/cus_9"}, {"amount", 2000}}));
    EXPECT_EQ(connector_->calls[1].step_id, "email");
    EXPECT_EQ(
        connector_->calls[1].with,
        json({{"to", "/v1/customers/cus_9"}, {"from", "billing@example.com"}, {"attempt", 1}}));

    // customer: running then succeeded; notify: skipped; email: running then succeeded.
    auto saved = store_.saved();
    ASSERT_EQ(saved.size(), 5u);
    EXPECT_EQ(saved[0].step_id, "customer");
    EXPECT_EQ(saved[0].status, "running");
    EXPECT_EQ(saved[1].step_id, "customer");
    EXPECT_EQ(saved[1].status, "succeeded");
    EXPECT_EQ(saved[1].position, 0);
    EXPECT_EQ(saved[1].attempt, 1);
    EXPECT_EQ(saved[1].started_at_ms, kNow * 1000);
    EXPECT_EQ(saved[1].finished_at_ms, kNow * 1000);
    EXPECT_EQ(json::parse(saved[1].output_json),
              json({{"echo", {{"path", "/v1/customers/cus_9"}, {"amount", 2000}}}}));
    EXPECT_EQ(json::parse(saved[1].request_json), json({{"method", "GET"}}));
    EXPECT_EQ(saved[2].step_id, "notify");
    EXPECT_EQ(saved[2].status, "skipped");
    EXPECT_EQ(saved[2].position, 1);
    EXPECT_EQ(saved[3].step_id, "email");
    EXPECT_EQ(saved[3].status, "running");
    EXPECT_EQ(saved[4].status, "succeeded");
    EXPECT_EQ(saved[4].position, 2);
}

TEST_F(EngineFixture, ResumedRun_DoesNotRepeatSucceededStep) {
    auto run = make_run("run_2", 2);
    StepRow done;
    done.run_id = "run_2";
    done.step_id = "customer";
    done.status = "succeeded";
    done.attempt = 1;
    done.output_json = R"({"echo":{"path":"/stored","amount":9000}})";
    run.steps.push_back(done);
    store_.add_run(std::move(run));

    auto finished = run_engine(1);
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].status, "succeeded");
    EXPECT_EQ(finished[0].attempt, 2);

    // The stored output feeds the later steps: notify now runs (9000 > 5000).
    ASSERT_EQ(connector_->calls.size(), 2u);
    EXPECT_EQ(connector_->calls[0].step_id, "notify");
    EXPECT_EQ(connector_->calls[0].with, json({{"text", "big"}}));
    EXPECT_EQ(connector_->calls[1].step_id, "email");
    EXPECT_EQ(connector_->calls[1].with["to"], "/stored");
    EXPECT_EQ(connector_->calls[1].with["attempt"], 2);
    for (const auto& row : store_.saved()) {
        EXPECT_NE(row.step_id, "customer");
    }
}

TEST_F(EngineFixture, RetryableFailure_FinishesFailedWithNextAttemptInTheFuture) {
    StepResult busy;
    busy.ok = false;
    busy.http_status = 429;
    busy.error = "stripe 429 rate_limit";
    busy.retryable = true;
    connector_->results["customer"] = busy;
    auto run = make_run("run_3", 2);
    run.steps.push_back(failed_row("run_3", "customer", 1));
    store_.add_run(std::move(run));

    auto finished = run_engine(1);
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].status, "failed");
    EXPECT_EQ(finished[0].attempt, 2);
    EXPECT_EQ(finished[0].last_error, "stripe 429 rate_limit");
    // Attempt 2: 2 s of backoff, +-20% jitter.
    EXPECT_GE(finished[0].next_attempt_at_ms, kNow * 1000 + 1600);
    EXPECT_LE(finished[0].next_attempt_at_ms, kNow * 1000 + 2400);

    ASSERT_EQ(connector_->calls.size(), 1u);  // the run stopped at the failed step
    EXPECT_EQ(connector_->calls[0].attempt, 2);
    auto saved = store_.saved();
    ASSERT_EQ(saved.size(), 2u);
    EXPECT_EQ(saved[1].status, "failed");
    EXPECT_EQ(saved[1].attempt, 2);  // the step's second try
    EXPECT_EQ(saved[1].error, "stripe 429 rate_limit");
}

TEST_F(EngineFixture, RetryableFailureOnLastAttempt_IsDead) {
    StepResult busy;
    busy.ok = false;
    busy.error = "timeout";
    busy.retryable = true;
    connector_->results["customer"] = busy;
    auto run = make_run("run_4", 7);
    run.steps.push_back(failed_row("run_4", "customer", 2));
    store_.add_run(std::move(run));

    auto finished = run_engine(1);
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].status, "dead");
    EXPECT_EQ(finished[0].last_error, "timeout");
}

TEST_F(EngineFixture, NonRetryableFailure_IsDead) {
    StepResult bad;
    bad.ok = false;
    bad.http_status = 404;
    bad.error = "stripe 404 resource_missing";
    connector_->results["email"] = bad;
    store_.add_run(make_run("run_5", 1));

    auto finished = run_engine(1);
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].status, "dead");
    EXPECT_EQ(finished[0].next_attempt_at_ms, 0);
    EXPECT_EQ(finished[0].last_error, "stripe 404 resource_missing");
    EXPECT_EQ(connector_->calls.size(), 2u);
}

TEST_F(EngineFixture, UnknownConnectorOrRenderError_IsDeadWithoutCall) {
    auto unknown = make_run("run_6",
                            1,
                            "name: recovery\non: {source: stripe}\n"
                            "steps: [{id: a, uses: crm.request}]\n");
    auto broken = make_run("run_7",
                           1,
                           "name: recovery\non: {source: stripe}\n"
                           "steps: [{id: a, uses: stripe.request, "
                           "with: {x: \"${{ 1 / 0 }}\"}}]\n");
    store_.add_run(std::move(unknown));
    store_.add_run(std::move(broken));

    auto finished = run_engine(2);
    ASSERT_EQ(finished.size(), 2u);
    std::map<std::string, Finished> by_run;
    for (const auto& f : finished) {
        by_run[f.run_id] = f;
    }
    EXPECT_EQ(by_run["run_6"].status, "dead");
    EXPECT_EQ(by_run["run_6"].last_error, "unknown connector 'crm'");
    EXPECT_EQ(by_run["run_7"].status, "dead");
    EXPECT_EQ(by_run["run_7"].last_error,
              "step 'a': with.x: expression '1 / 0': division by zero at column 3");
    EXPECT_TRUE(connector_->calls.empty());
}

TEST_F(EngineFixture, ManyRuns_AllFinish) {
    for (int i = 0; i < 10; ++i) {
        store_.add_run(make_run("run_m" + std::to_string(i), 1));
    }
    auto finished = run_engine(10);
    EXPECT_EQ(finished.size(), 10u);
    for (const auto& f : finished) {
        EXPECT_EQ(f.status, "succeeded");
    }
    EXPECT_EQ(connector_->calls.size(), 20u);
}

std::shared_ptr<const hookflow::engine::Workflow> workflow(const std::string& text) {
    auto outcome = hookflow::engine::parse_workflow(text, "test.yaml");
    EXPECT_TRUE(outcome.errors.empty()) << outcome.errors.front().to_string();
    return outcome.workflow;
}

TEST(WorkflowSet, Match_UsesEventsWildcardsAndIf) {
    const std::string steps = "steps: [{id: a, uses: stripe.request}]\n";
    hookflow::engine::WorkflowSet set({
        workflow("name: all-invoices\non: {source: stripe, events: ['invoice.*']}\n" + steps),
        workflow("name: big-failures\non:\n  source: stripe\n  events: [invoice.payment_failed]\n"
                 "  if: ${{ event.data.object.amount_due > 1000 }}\n" +
                 steps),
        workflow("name: github-any\non: {source: github}\n" + steps),
        workflow("name: broken-if\non: {source: stripe, if: \"${{ event.x < 'a' }}\"}\n" + steps),
    });

    auto context = [](int amount) {
        return json{{"event", {{"data", {{"object", {{"amount_due", amount}}}}}}},
                    {"delivery", {{"source", "stripe"}}}};
    };
    auto names = [](const std::vector<hookflow::store::NewRun>& runs) {
        std::vector<std::string> out;
        for (const auto& run : runs) {
            out.push_back(run.workflow);
        }
        return out;
    };

    auto big = set.match("stripe", "invoice.payment_failed", context(2000));
    EXPECT_EQ(names(big), (std::vector<std::string>{"all-invoices", "big-failures"}));
    EXPECT_EQ(big[1].workflow_hash, set.workflows()[1]->hash);
    EXPECT_EQ(big[1].definition, set.workflows()[1]->text);

    EXPECT_EQ(names(set.match("stripe", "invoice.payment_failed", context(500))),
              (std::vector<std::string>{"all-invoices"}));
    EXPECT_EQ(names(set.match("stripe", "charge.failed", context(5000))),
              (std::vector<std::string>{}));
    EXPECT_EQ(names(set.match("github", "push", json::object())),
              (std::vector<std::string>{"github-any"}));
}

TEST(DeliveryContext, Event_BecomesDeliveryObject) {
    auto run = make_run("r", 1);
    auto delivery = hookflow::engine::delivery_context(run.event);
    EXPECT_EQ(delivery,
              json({{"source", "stripe"},
                    {"provider", "stripe"},
                    {"type", "invoice.payment_failed"},
                    {"id", "evt_1"},
                    {"event_id", "ev_1"},
                    {"headers", {{"x-from", "billing@example.com"}}},
                    {"received_at", kNow * 1000}}));
}

// ---- durability ----

using hookflow::engine::backoff_ms;
using hookflow::engine::RetryPolicy;

TEST(Backoff, Attempts_DoubleWithinJitterAndStopAtTheCap) {
    RetryPolicy policy{5, 1000, 10000};
    EXPECT_EQ(backoff_ms(1, policy, 0.0), 800);  // 1 s - 20%
    EXPECT_EQ(backoff_ms(1, policy, 0.5), 1000);
    EXPECT_EQ(backoff_ms(1, policy, 0.999), 1199);  // just under 1 s + 20%
    EXPECT_EQ(backoff_ms(2, policy, 0.5), 2000);
    EXPECT_EQ(backoff_ms(3, policy, 0.0), 3200);
    EXPECT_EQ(backoff_ms(4, policy, 0.5), 8000);
    // Past the cap: jitter below it, never above it.
    EXPECT_EQ(backoff_ms(5, policy, 0.0), 8000);
    EXPECT_EQ(backoff_ms(5, policy, 0.999), 10000);
    EXPECT_EQ(backoff_ms(60, policy, 0.5), 10000);
    EXPECT_EQ(backoff_ms(2, RetryPolicy{3, 0, 0}, 0.7), 0);
}

TEST(Backoff, StepRetry_OverridesEngineDefaultsFieldByField) {
    hookflow::config::EngineConfig config;
    hookflow::engine::Step step;
    auto defaults = hookflow::engine::effective_retry(step, config);
    EXPECT_EQ(defaults.max_attempts, 5);
    EXPECT_EQ(defaults.initial_backoff_ms, 1000);
    EXPECT_EQ(defaults.max_backoff_ms, 300000);
    step.retry.max_attempts = 2;
    step.retry.initial_backoff_ms = 500;
    auto mixed = hookflow::engine::effective_retry(step, config);
    EXPECT_EQ(mixed.max_attempts, 2);
    EXPECT_EQ(mixed.initial_backoff_ms, 500);
    EXPECT_EQ(mixed.max_backoff_ms, 300000);
}

TEST(RetryAfter, SecondsDatesAndGarbage_Parsed) {
    using hookflow::connectors::parse_retry_after_ms;
    const std::int64_t now = 1445412480000;  // Wed, 21 Oct 2015 07:28:00 GMT
    EXPECT_EQ(parse_retry_after_ms("120", now), 120000);
    EXPECT_EQ(parse_retry_after_ms(" 2 ", now), 2000);
    EXPECT_EQ(parse_retry_after_ms("0", now), 0);
    EXPECT_EQ(parse_retry_after_ms("Wed, 21 Oct 2015 07:28:30 GMT", now), 30000);
    EXPECT_EQ(parse_retry_after_ms("Wednesday, 21-Oct-15 07:29:00 GMT", now), 60000);
    EXPECT_EQ(parse_retry_after_ms("Wed Oct 21 07:28:05 2015", now), 5000);
    EXPECT_EQ(parse_retry_after_ms("Wed, 21 Oct 2015 07:00:00 GMT", now), 0);  // past: now
    for (const char* garbage : {"",
                                "soon",
                                "-1",
                                "1.5",
                                "12abc",
                                "Wed, 21 Oct 2015 07:28:30 PST",
                                "Wed, 21 Foo 2015 07:28:30 GMT",
                                "Wed, 32 Oct 2015 07:28:30 GMT",
                                "99999999999"}) {
        EXPECT_EQ(parse_retry_after_ms(garbage, now), -1) << garbage;
    }
}

TEST_F(EngineFixture, FailureKinds_ClassifiedAsRetriedOrDead) {
    struct Case {
        std::string name;
        StepResult result;
        std::string status;
    };
    auto failure = [](int http_status, bool retryable, const std::string& error) {
        StepResult result;
        result.http_status = http_status;
        result.retryable = retryable;
        result.error = error;
        return result;
    };
    std::vector<Case> cases = {
        {"c500", failure(500, true, "crm 500"), "failed"},
        {"c503", failure(503, true, "crm 503"), "failed"},
        {"c429", failure(429, true, "slack 429: ratelimited"), "failed"},
        {"network", failure(0, true, "stripe: connection reset"), "failed"},
        {"c400", failure(400, false, "crm 400"), "dead"},
        {"c404", failure(404, false, "stripe 404 resource_missing"), "dead"},
        {"credential", failure(0, false, "connector stripe: STRIPE_API_KEY is not set"), "dead"},
    };
    for (const auto& c : cases) {
        auto definition = "name: recovery\non: {source: stripe}\nsteps: [{id: " + c.name +
                          ", uses: stripe.request}]\n";
        connector_->results[c.name] = c.result;
        store_.add_run(make_run("run_" + c.name, 1, definition));
    }
    auto finished = run_engine(cases.size());
    ASSERT_EQ(finished.size(), cases.size());
    std::map<std::string, Finished> by_run;
    for (const auto& f : finished) {
        by_run[f.run_id] = f;
    }
    for (const auto& c : cases) {
        const auto& f = by_run["run_" + c.name];
        EXPECT_EQ(f.status, c.status) << c.name;
        EXPECT_EQ(f.last_error, c.result.error) << c.name;
        EXPECT_EQ(f.next_attempt_at_ms > 0, c.status == "failed") << c.name;
    }
}

TEST_F(EngineFixture, RetryAfterLongerThanBackoff_IsWaited) {
    StepResult limited;
    limited.http_status = 429;
    limited.retryable = true;
    limited.retry_after_ms = 30000;
    limited.error = "slack 429: ratelimited";
    connector_->results["customer"] = limited;
    store_.add_run(make_run("run_ra", 1));

    auto finished = run_engine(1);
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].status, "failed");
    EXPECT_EQ(finished[0].next_attempt_at_ms, kNow * 1000 + 30000);
}

TEST_F(EngineFixture, StepRetryBlock_MaxAttemptsMakesRunDead) {
    const std::string definition =
        "name: recovery\non: {source: stripe}\nsteps:\n"
        "  - {id: a, uses: stripe.request, retry: {max_attempts: 2, initial_backoff: 10s}}\n";
    StepResult busy;
    busy.retryable = true;
    busy.error = "crm 503";
    connector_->results["a"] = busy;
    store_.add_run(make_run("run_first", 1, definition));
    auto second = make_run("run_second", 2, definition);
    second.steps.push_back(failed_row("run_second", "a", 1));
    store_.add_run(std::move(second));

    auto finished = run_engine(2);
    ASSERT_EQ(finished.size(), 2u);
    std::map<std::string, Finished> by_run;
    for (const auto& f : finished) {
        by_run[f.run_id] = f;
    }
    EXPECT_EQ(by_run["run_first"].status, "failed");
    EXPECT_GE(by_run["run_first"].next_attempt_at_ms, kNow * 1000 + 8000);
    EXPECT_LE(by_run["run_first"].next_attempt_at_ms, kNow * 1000 + 12000);
    EXPECT_EQ(by_run["run_second"].status, "dead");
    EXPECT_EQ(by_run["run_second"].last_error, "crm 503");
}

TEST_F(EngineFixture, HangingStep_CancelledAtItsTimeoutAndRetried) {
    const std::string definition =
        "name: recovery\non: {source: stripe}\nsteps:\n"
        "  - {id: slow, uses: stripe.request, timeout: 50ms}\n"
        "  - {id: after, uses: stripe.request}\n";
    connector_->delays["slow"] = std::chrono::hours(1);
    store_.add_run(make_run("run_hang", 1, definition));

    auto started = std::chrono::steady_clock::now();
    auto finished = run_engine(1);
    auto elapsed = std::chrono::steady_clock::now() - started;
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].status, "failed");
    EXPECT_EQ(finished[0].last_error, "step timed out after 50 ms");
    EXPECT_LT(elapsed, std::chrono::seconds(3));
    ASSERT_EQ(connector_->calls.size(), 1u);
    EXPECT_EQ(connector_->cancelled, std::vector<std::string>{"slow"});
    auto saved = store_.saved();
    ASSERT_EQ(saved.size(), 2u);
    EXPECT_EQ(saved[1].status, "failed");
    EXPECT_EQ(saved[1].error, "step timed out after 50 ms");
}

TEST_F(EngineFixture, RunPastItsTimeout_IsDead) {
    const std::string definition =
        "name: recovery\ntimeout: 40ms\non: {source: stripe}\nsteps:\n"
        "  - {id: slow, uses: stripe.request}\n";
    connector_->delays["slow"] = std::chrono::hours(1);
    store_.add_run(make_run("run_long", 1, definition));

    auto finished = run_engine(1);
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].status, "dead");
    EXPECT_EQ(finished[0].last_error, "run timed out");
}

TEST_F(EngineFixture, LongStep_LeaseRenewedFromTheClock) {
    config_.lease_renew_interval_ms = 5;
    connector_->delays["customer"] = std::chrono::milliseconds(80);
    store_.add_run(make_run("run_renew", 1));

    auto finished = run_engine(1);
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].status, "succeeded");
    auto renewals = store_.renewals();
    ASSERT_GE(renewals.size(), 2u);
    for (const auto& [run_id, until_ms] : renewals) {
        EXPECT_EQ(run_id, "run_renew");
        EXPECT_EQ(until_ms, kNow * 1000 + 30000);  // FixedClock now + lease
    }
}

TEST_F(EngineFixture, LostLease_StopsAfterCurrentStepWithoutOutcome) {
    config_.lease_renew_interval_ms = 5;
    store_.set_keep_lease(false);
    connector_->delays["customer"] = std::chrono::milliseconds(80);
    store_.add_run(make_run("run_lost", 1));

    hookflow::engine::Engine engine(io_.get_executor(), store_, registry_, config_, clock_);
    engine.configure(fake_settings());
    engine.start();
    ASSERT_TRUE(run_until([&] { return !store_.renewals().empty(); }));
    ASSERT_TRUE(run_until([&] { return engine.in_flight() == 0; }));
    engine.stop();
    io_.run_for(std::chrono::milliseconds(20));

    EXPECT_TRUE(store_.finished().empty());
    ASSERT_EQ(connector_->calls.size(), 1u);
    EXPECT_EQ(connector_->calls[0].step_id, "customer");
    auto saved = store_.saved();
    ASSERT_EQ(saved.size(), 2u);
    EXPECT_EQ(saved[1].step_id, "customer");
    EXPECT_EQ(saved[1].status, "succeeded");
}

TEST_F(EngineFixture, ReleaseAll_GivesInFlightRunsBackWithoutOutcome) {
    connector_->delays["customer"] = std::chrono::hours(1);
    store_.add_run(make_run("run_rel", 1));

    hookflow::engine::Engine engine(io_.get_executor(), store_, registry_, config_, clock_);
    engine.configure(fake_settings());
    engine.start();
    ASSERT_TRUE(run_until([&] { return connector_->calls.size() == 1; }));
    std::atomic<int> released{-1};
    engine.release_all([&](int count) { released = count; });
    ASSERT_TRUE(run_until([&] { return released.load() >= 0; }));

    EXPECT_EQ(released.load(), 1);
    EXPECT_EQ(store_.released(), std::vector<std::string>{"run_rel"});
    EXPECT_TRUE(store_.finished().empty());
    // The step in flight stays recorded as running, so the next attempt repeats only it.
    auto saved = store_.saved();
    ASSERT_EQ(saved.size(), 1u);
    EXPECT_EQ(saved[0].step_id, "customer");
    EXPECT_EQ(saved[0].status, "running");
}

TEST_F(EngineFixture, ReleaseAllWithNothingInFlight_DoneAtOnce) {
    hookflow::engine::Engine engine(io_.get_executor(), store_, registry_, config_, clock_);
    engine.configure(fake_settings());
    int released = -1;
    engine.release_all([&](int count) { released = count; });
    EXPECT_EQ(released, 0);
}

TEST_F(EngineFixture, StepWriteFails_RunLeftToItsLease) {
    store_.set_fail_saves(true);
    store_.add_run(make_run("run_io", 1));

    hookflow::engine::Engine engine(io_.get_executor(), store_, registry_, config_, clock_);
    engine.configure(fake_settings());
    engine.start();
    ASSERT_TRUE(run_until([&] { return store_.queued() == 0; }));
    ASSERT_TRUE(run_until([&] { return engine.in_flight() == 0; }));
    engine.stop();
    io_.run_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(store_.finished().empty());  // no outcome: the lease expires, the run resumes
    EXPECT_TRUE(connector_->calls.empty());  // the `running` row failed first
}

TEST(WorkflowSet, Concurrency_KeyLimitAndGuardEvaluatedAtEnqueue) {
    hookflow::engine::WorkflowSet set({
        workflow("name: sync\non: {source: stripe}\n"
                 "concurrency:\n  key: sub-${{ event.data.object.id }}\n  limit: 1\n"
                 "  stale_guard: ${{ event.created }}\n"
                 "steps: [{id: a, uses: stripe.request}]\n"),
        workflow("name: plain\non: {source: stripe}\nsteps: [{id: a, uses: stripe.request}]\n"),
    });
    json context = {{"event", {{"created", 1700000001}, {"data", {{"object", {{"id", "s1"}}}}}}}};
    auto runs = set.match("stripe", "customer.subscription.updated", context);
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].concurrency_key, "sub-s1");
    EXPECT_EQ(runs[0].concurrency_limit, 1);
    ASSERT_TRUE(std::holds_alternative<double>(runs[0].stale_guard));
    EXPECT_EQ(std::get<double>(runs[0].stale_guard), 1700000001.0);
    EXPECT_EQ(runs[1].concurrency_key, "");
    EXPECT_EQ(runs[1].concurrency_limit, 0);
    EXPECT_TRUE(std::holds_alternative<std::monostate>(runs[1].stale_guard));
}

}  // namespace
