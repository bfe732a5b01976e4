// The engine: matching events to workflows, and the poller and run coroutines that execute
// claimed runs step by step.

#include <algorithm>
#include <cctype>
#include <exception>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <hookflow/common/ids.hpp>
#include <hookflow/common/log.hpp>
#include <hookflow/engine/engine.hpp>
#include <hookflow/engine/expression.hpp>
#include <hookflow/store/awaitable.hpp>

namespace hookflow::engine {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr std::int64_t kBackoffBaseMs = 1000;
constexpr std::int64_t kBackoffCapMs = 300 * 1000;
constexpr double kJitter = 0.2;

json parse_or_null(const std::string& text) {
    auto value = json::parse(text, nullptr, false);
    return value.is_discarded() ? json(nullptr) : value;
}

std::string dump(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    return text;
}

// Why a run stopped before its last step.
struct StepFailure {
    std::string error;
    bool retryable = false;
};

}  // namespace

// ---- WorkflowSet ----

WorkflowSet::WorkflowSet(std::vector<std::shared_ptr<const Workflow>> workflows)
    : workflows_(std::move(workflows)) {}

std::vector<store::NewRun> WorkflowSet::match(const std::string& source,
                                              const std::string& type,
                                              const nlohmann::json& context) const {
    std::vector<store::NewRun> runs;
    for (const auto& workflow : workflows_) {
        if (!trigger_matches(workflow->on, source, type)) {
            continue;
        }
        if (!workflow->on.if_expr.empty()) {
            auto holds = evaluate(workflow->on.if_expr, context);
            if (!holds) {
                spdlog::warn("trigger condition failed {}",
                             logf::fields({{logf::kWorkflow, workflow->name},
                                           {logf::kSource, source},
                                           {logf::kType, type},
                                           {logf::kErr, holds.error().log_text}}));
                continue;
            }
            if (!truthy(*holds)) {
                continue;
            }
        }
        runs.push_back(store::NewRun{workflow->name, workflow->hash, workflow->text});
    }
    return runs;
}

nlohmann::json delivery_context(const store::EventRow& event) {
    json headers = json::object();
    auto pairs = parse_or_null(event.headers_json);
    if (pairs.is_array()) {
        for (const auto& pair : pairs) {
            if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() ||
                !pair[1].is_string()) {
                continue;
            }
            // The first of repeated headers wins, as in find_header.
            headers.emplace(lower(pair[0].get<std::string>()), pair[1]);
        }
    }
    return json{{"source", event.source},
                {"provider", event.provider},
                {"type", event.type},
                {"id", event.delivery_id},
                {"event_id", event.id},
                {"headers", std::move(headers)},
                {"received_at", event.received_at_ms}};
}

// ---- Engine ----

namespace {

// The engine's shared state; coroutines hold it by shared_ptr so it outlives the Engine.
struct EngineState : std::enable_shared_from_this<EngineState> {
    EngineState(asio::any_io_executor ex,
                store::Store& store_ref,
                connectors::Registry& registry,
                const config::EngineConfig& engine_config,
                const Clock& clock_ref,
                std::atomic<int>* counter)
        : executor(std::move(ex)),
          strand(asio::make_strand(executor)),
          timer(strand),
          store(store_ref),
          connectors(registry),
          config(engine_config),
          clock(clock_ref),
          owner(new_id("worker", clock_ref.now_ms())),
          random(std::random_device{}()),
          in_flight_counter(counter) {}

    void add_in_flight(int delta) {
        running += delta;
        std::lock_guard lock(counter_mutex);
        if (in_flight_counter != nullptr) {
            *in_flight_counter += delta;
        }
    }

    void wake() {
        if (stopped) {
            return;
        }
        wake_pending = true;
        asio::post(strand, [self = shared_from_this()] { self->timer.cancel(); });
    }

    std::int64_t backoff_ms(int attempt) {
        std::int64_t delay = kBackoffBaseMs;
        for (int i = 1; i < attempt && delay < kBackoffCapMs; ++i) {
            delay *= 2;
        }
        std::lock_guard lock(random_mutex);
        std::uniform_real_distribution<double> factor(1.0 - kJitter, 1.0 + kJitter);
        auto jittered = static_cast<std::int64_t>(static_cast<double>(delay) * factor(random));
        return std::min(jittered, kBackoffCapMs);
    }

    asio::any_io_executor executor;
    asio::strand<asio::any_io_executor> strand;
    asio::steady_timer timer;  // used on the strand only
    store::Store& store;
    connectors::Registry& connectors;
    config::EngineConfig config;
    const Clock& clock;
    std::string owner;
    std::atomic<bool> started{false};
    std::atomic<bool> stopped{false};
    std::atomic<bool> wake_pending{false};
    std::atomic<int> running{0};
    std::mutex random_mutex;
    std::mt19937_64 random;
    std::mutex counter_mutex;
    std::atomic<int>* in_flight_counter;  // the Engine's, null once the Engine is gone
};

using ImplPtr = std::shared_ptr<EngineState>;

std::string run_fields(const store::ClaimedRun& claimed) {
    return logf::fields({{logf::kRun, claimed.run.id}, {logf::kWorkflow, claimed.run.workflow}});
}

// Limitation: there is no `secrets` context yet; `${{ secrets.X }}` renders as null.
json initial_context(const store::ClaimedRun& claimed) {
    return json{{"event", parse_or_null(claimed.event.body)},
                {"delivery", delivery_context(claimed.event)},
                {"steps", json::object()},
                {"run", {{"id", claimed.run.id}, {"attempt", claimed.run.attempt}}}};
}

asio::awaitable<Result<bool>> save_step(EngineState& impl, store::StepRow row) {
    co_return co_await store::async_call<bool>(
        [&](auto done) { impl.store.save_step(std::move(row), std::move(done)); });
}

void log_step(const store::ClaimedRun& claimed,
              const Step& step,
              const store::StepRow& row,
              int http_status) {
    auto line =
        run_fields(claimed) + " " +
        logf::fields(
            {{logf::kStep, step.id}, {logf::kAction, step.uses}, {logf::kStatus, row.status}}) +
        " " + logf::field(logf::kHttpStatus, http_status) + " " +
        logf::field(logf::kElapsedMs, row.finished_at_ms - row.started_at_ms);
    if (row.status == "failed") {
        spdlog::warn("step finished {} {}", line, logf::field(logf::kErr, row.error));
    } else {
        spdlog::info("step finished {}", line);
    }
}

// Records a step that failed before or instead of its call.
asio::awaitable<std::optional<StepFailure>> fail_step(EngineState& impl,
                                                      const store::ClaimedRun& claimed,
                                                      const Step& step,
                                                      store::StepRow row,
                                                      std::string error) {
    row.status = "failed";
    row.error = error;
    row.finished_at_ms = impl.clock.now_ms();
    log_step(claimed, step, row, 0);
    co_await save_step(impl, std::move(row));
    co_return StepFailure{std::move(error), false};
}

// Evaluates the step's `if`: true to run it, false when it was recorded as skipped.
asio::awaitable<Result<bool>> check_condition(EngineState& impl,
                                              const store::ClaimedRun& claimed,
                                              const Step& step,
                                              store::StepRow row,
                                              json& context) {
    if (step.if_expr.empty()) {
        co_return true;
    }
    auto holds = evaluate(step.if_expr, context);
    if (!holds) {
        co_return holds.error();
    }
    if (truthy(*holds)) {
        co_return true;
    }
    row.status = "skipped";
    row.finished_at_ms = impl.clock.now_ms();
    context["steps"][step.id] = json{{"output", nullptr}, {"status", "skipped"}};
    log_step(claimed, step, row, 0);
    auto saved = co_await save_step(impl, std::move(row));
    if (!saved) {
        co_return saved.error();
    }
    co_return false;
}

// Calls the connector and records what it did; the step's row is `running` during the call.
asio::awaitable<std::optional<StepFailure>> call_step(EngineState& impl,
                                                      const store::ClaimedRun& claimed,
                                                      const Step& step,
                                                      store::StepRow& row,
                                                      connectors::Connector& connector,
                                                      json& with,
                                                      json& context) {
    row.status = "running";
    if (auto saved = co_await save_step(impl, row); !saved) {
        co_return StepFailure{"store: " + saved.error().log_text, true};
    }
    connectors::StepCall call{
        claimed.run.id, step.id, step.action, claimed.run.attempt, std::move(with)};
    auto result = co_await connector.call(call);
    row.status = result.ok ? "succeeded" : "failed";
    row.finished_at_ms = impl.clock.now_ms();
    row.request_json = dump(result.request);
    row.output_json = dump(result.output);
    row.error = result.ok ? "" : (result.error.empty() ? "step failed" : result.error);
    context["steps"][step.id] = json{{"output", result.output}, {"status", row.status}};
    log_step(claimed, step, row, result.http_status);
    auto error = row.error;
    if (auto saved = co_await save_step(impl, std::move(row)); !saved) {
        co_return StepFailure{"store: " + saved.error().log_text, true};
    }
    if (!result.ok) {
        co_return StepFailure{std::move(error), result.retryable};
    }
    co_return std::nullopt;
}

asio::awaitable<std::optional<StepFailure>> run_step(EngineState& impl,
                                                     const store::ClaimedRun& claimed,
                                                     const Step& step,
                                                     int position,
                                                     json& context) {
    store::StepRow row;
    row.run_id = claimed.run.id;
    row.step_id = step.id;
    row.position = position;
    row.attempt = claimed.run.attempt;
    row.started_at_ms = impl.clock.now_ms();

    auto proceed = co_await check_condition(impl, claimed, step, row, context);
    if (!proceed) {
        co_return co_await fail_step(impl, claimed, step, row, proceed.error().log_text);
    }
    if (!*proceed) {
        co_return std::nullopt;
    }

    auto with = render(step.with, context);
    if (!with) {
        co_return co_await fail_step(impl, claimed, step, row, with.error().log_text);
    }
    auto* connector = impl.connectors.find(step.connector);
    if (connector == nullptr) {
        co_return co_await fail_step(
            impl, claimed, step, row, "unknown connector '" + step.connector + "'");
    }
    if (!connector->has_action(step.action)) {
        co_return co_await fail_step(
            impl,
            claimed,
            step,
            row,
            "connector '" + step.connector + "' has no action '" + step.action + "'");
    }
    co_return co_await call_step(impl, claimed, step, row, *connector, *with, context);
}

// Runs the workflow's steps in order, resuming after those a previous attempt finished.
asio::awaitable<std::optional<StepFailure>> run_steps(EngineState& impl,
                                                      const store::ClaimedRun& claimed,
                                                      const Workflow& workflow) {
    auto context = initial_context(claimed);
    std::map<std::string, const store::StepRow*> recorded;
    for (const auto& row : claimed.steps) {
        recorded[row.step_id] = &row;
    }
    for (std::size_t i = 0; i < workflow.steps.size(); ++i) {
        const auto& step = workflow.steps[i];
        auto earlier = recorded.find(step.id);
        if (earlier != recorded.end() && earlier->second->status == "succeeded") {
            context["steps"][step.id] = json{
                {"output", parse_or_null(earlier->second->output_json)}, {"status", "succeeded"}};
            continue;
        }
        auto failure = co_await run_step(impl, claimed, step, static_cast<int>(i), context);
        if (failure) {
            co_return failure;
        }
    }
    co_return std::nullopt;
}

asio::awaitable<void> finish(EngineState& impl,
                             const store::ClaimedRun& claimed,
                             const std::optional<StepFailure>& failure,
                             std::int64_t started_ms) {
    const int attempt = claimed.run.attempt;
    std::string status = "succeeded";
    std::int64_t next_attempt_ms = 0;
    if (failure && failure->retryable && attempt < impl.config.max_attempts) {
        status = "failed";
        next_attempt_ms = impl.clock.now_ms() + impl.backoff_ms(attempt);
    } else if (failure) {
        status = "dead";
    }
    auto error = failure ? failure->error : std::string();
    auto saved = co_await store::async_call<bool>([&](auto done) {
        impl.store.finish_run(
            claimed.run.id, status, attempt, next_attempt_ms, error, std::move(done));
    });
    if (!saved) {
        spdlog::error("run finish not saved {} {}",
                      run_fields(claimed),
                      logf::field(logf::kErr, saved.error().log_text));
    }
    auto line = run_fields(claimed) + " " + logf::field(logf::kStatus, status) + " " +
                logf::field(logf::kElapsedMs, impl.clock.now_ms() - started_ms);
    if (failure) {
        spdlog::warn("run finished {} {}", line, logf::field(logf::kErr, error));
    } else {
        spdlog::info("run finished {}", line);
    }
}

asio::awaitable<void> execute_run(ImplPtr impl, store::ClaimedRun claimed) {
    auto started_ms = impl->clock.now_ms();
    spdlog::info("run started {} {} {}",
                 run_fields(claimed),
                 logf::field(logf::kEvent, claimed.event.id),
                 logf::field(logf::kAttempt, claimed.run.attempt));

    std::optional<StepFailure> failure;
    auto parsed = parse_workflow(claimed.definition, claimed.run.workflow);
    if (!parsed.workflow) {
        auto first = parsed.errors.empty() ? std::string() : parsed.errors.front().to_string();
        failure = StepFailure{"stored workflow definition does not parse: " + first, false};
    } else {
        failure = co_await run_steps(*impl, claimed, *parsed.workflow);
    }
    co_await finish(*impl, claimed, failure, started_ms);
}

void spawn_run(const ImplPtr& impl, store::ClaimedRun claimed) {
    impl->add_in_flight(1);
    auto run_id = claimed.run.id;
    asio::co_spawn(impl->executor,
                   execute_run(impl, std::move(claimed)),
                   [impl, run_id](const std::exception_ptr& error) {
                       if (error) {
                           // The run keeps its lease and is claimed again when it expires.
                           spdlog::error(
                               "run aborted {}",
                               logf::fields({{logf::kRun, run_id}, {logf::kErr, "exception"}}));
                       }
                       impl->add_in_flight(-1);
                       impl->wake();
                   });
}

asio::awaitable<void> claim_and_spawn(const ImplPtr& impl) {
    int free = impl->config.workers - impl->running.load();
    if (free <= 0) {
        co_return;
    }
    const std::int64_t lease_ms = std::int64_t{impl->config.lease_seconds} * 1000;
    auto claimed = co_await store::async_call<std::vector<store::ClaimedRun>>([&](auto done) {
        impl->store.claim_runs(impl->owner, free, impl->clock.now_ms(), lease_ms, std::move(done));
    });
    if (!claimed) {
        spdlog::warn("claim failed {}", logf::field(logf::kErr, claimed.error().log_text));
        co_return;
    }
    for (auto& run : *claimed) {
        spawn_run(impl, std::move(run));
    }
}

asio::awaitable<void> poll(ImplPtr impl) {
    while (!impl->stopped) {
        impl->wake_pending = false;
        co_await claim_and_spawn(impl);
        // A wake that came during the claim must not wait for the next interval.
        if (impl->stopped || impl->wake_pending) {
            continue;
        }
        impl->timer.expires_after(std::chrono::milliseconds(impl->config.poll_interval_ms));
        boost::system::error_code ec;
        co_await impl->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

}  // namespace

struct Engine::Impl : EngineState {
    using EngineState::EngineState;
};

Engine::Engine(boost::asio::any_io_executor executor,
               store::Store& store,
               connectors::Registry& connectors,
               const config::EngineConfig& config,
               const Clock& clock)
    : impl_(std::make_shared<Impl>(
          std::move(executor), store, connectors, config, clock, &in_flight_)) {}

Engine::~Engine() {
    stop();
    std::lock_guard lock(impl_->counter_mutex);
    impl_->in_flight_counter = nullptr;
}

void Engine::start() {
    if (impl_->started.exchange(true)) {
        return;
    }
    // Limitation: leases are not renewed; a run longer than engine.lease_seconds can be claimed
    // again by another worker while it is still executing.
    asio::co_spawn(impl_->strand, poll(impl_), [](const std::exception_ptr& error) {
        if (error) {
            spdlog::error("engine poller stopped {}", logf::field(logf::kErr, "exception"));
        }
    });
}

void Engine::wake() {
    impl_->wake();
}

// Limitation: runs in flight are not released; if the process exits before they finish they
// stay `running` until their lease expires and another worker claims them.
void Engine::stop() {
    if (impl_->stopped.exchange(true)) {
        return;
    }
    asio::post(impl_->strand, [impl = impl_] { impl->timer.cancel(); });
}

}  // namespace hookflow::engine
