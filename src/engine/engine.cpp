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

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <hookflow/common/form.hpp>
#include <hookflow/common/headers.hpp>
#include <hookflow/common/ids.hpp>
#include <hookflow/common/json_limits.hpp>
#include <hookflow/common/log.hpp>
#include <hookflow/common/metrics.hpp>
#include <hookflow/connectors/actions.hpp>
#include <hookflow/engine/engine.hpp>
#include <hookflow/engine/expression.hpp>
#include <hookflow/engine/redact.hpp>
#include <hookflow/store/awaitable.hpp>

namespace hookflow::engine {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr double kJitter = 0.2;

// Stored texts may predate the depth check on answers: an over-deep one reads as null.
json parse_or_null(const std::string& text) {
    auto value = parse_json_bounded(text);
    return value ? std::move(value.value()) : json(nullptr);
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

// How a run stopped before its last step.
enum class Stop {
    failed,       // a step failed: retried or dead by its policy
    run_timeout,  // the run went past its timeout: dead
    store_error,  // a write failed: nothing more is recorded, the lease expires
    interrupted,  // the lease was lost or released: someone else records the outcome
};

// Why a run stopped before its last step.
struct StepFailure {
    std::string error;
    bool retryable = false;
    Stop kind = Stop::failed;
    int step_attempt = 1;
    RetryPolicy policy{};
    std::int64_t retry_after_ms = -1;
};

// A key or guard template rendered over `{event, delivery}`; null on an error (logged).
json render_enqueue_value(const Workflow& workflow, const json& value, const json& context) {
    auto rendered = render(value, context);
    if (!rendered) {
        spdlog::warn("concurrency expression failed {}",
                     logf::fields({{logf::kWorkflow, workflow.name},
                                   {logf::kErr, rendered.error().log_text}}));
        return nullptr;
    }
    return *rendered;
}

store::NewRun new_run(const Workflow& workflow, const json& context) {
    store::NewRun run;
    run.workflow = workflow.name;
    run.workflow_hash = workflow.hash;
    run.definition = workflow.text;
    const auto& concurrency = workflow.concurrency;
    run.concurrency_limit = concurrency.limit;
    if (!concurrency.key.is_null()) {
        auto key = render_enqueue_value(workflow, concurrency.key, context);
        run.concurrency_key = key.is_string() ? key.get<std::string>() : dump(key);
    }
    if (!concurrency.stale_guard.is_null()) {
        auto guard = render_enqueue_value(workflow, concurrency.stale_guard, context);
        if (guard.is_number()) {
            run.stale_guard = guard.get<double>();
        } else if (guard.is_string() && !guard.get<std::string>().empty()) {
            run.stale_guard = guard.get<std::string>();
        }
    }
    return run;
}

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
        runs.push_back(new_run(*workflow, context));
    }
    return runs;
}

nlohmann::json event_context(const store::EventRow& event) {
    if (auto parsed = parse_json_bounded(event.body)) {
        return std::move(parsed.value());
    }
    auto headers = parse_or_null(event.headers_json);
    for (const auto& pair : headers.is_array() ? headers : json::array()) {
        if (pair.is_array() && pair.size() == 2 &&
            iequals(pair[0].get<std::string>(), "content-type") &&
            pair[1].get<std::string>().starts_with("application/x-www-form-urlencoded")) {
            return form_to_json(event.body);
        }
    }
    return nullptr;
}

json delivery_context(const store::EventRow& event) {
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

RetryPolicy effective_retry(const Step& step, const config::EngineConfig& config) {
    RetryPolicy policy = step.retry;
    if (policy.max_attempts <= 0) {
        policy.max_attempts = config.max_attempts;
    }
    if (policy.initial_backoff_ms <= 0) {
        policy.initial_backoff_ms = config.initial_backoff_ms;
    }
    if (policy.max_backoff_ms <= 0) {
        policy.max_backoff_ms = std::max(config.max_backoff_ms, policy.initial_backoff_ms);
    }
    return policy;
}

std::int64_t backoff_ms(int attempt, const RetryPolicy& policy, double unit) {
    std::int64_t delay = std::max<std::int64_t>(policy.initial_backoff_ms, 0);
    for (int i = 1; i < attempt && delay < policy.max_backoff_ms; ++i) {
        delay *= 2;
    }
    delay = std::min(delay, policy.max_backoff_ms);
    double factor = 1.0 - kJitter + 2.0 * kJitter * std::clamp(unit, 0.0, 1.0);
    auto jittered = static_cast<std::int64_t>(static_cast<double>(delay) * factor);
    return std::min(jittered, policy.max_backoff_ms);
}

// ---- Engine ----

namespace {

// One run in flight: its strand (the run, its lease renewal and its step calls all run on it)
// and what the engine may tell it from outside.
struct RunControl {
    explicit RunControl(const asio::any_io_executor& executor)
        : strand(asio::make_strand(executor)), renew_timer(strand) {}

    asio::strand<asio::any_io_executor> strand;
    asio::steady_timer renew_timer;
    std::atomic<bool> lease_lost{false};
    std::atomic<bool> released{false};
    std::atomic<bool> done{false};

    bool interrupted() const { return lease_lost.load() || released.load(); }
};

using ControlPtr = std::shared_ptr<RunControl>;

// The run settings with their redactor built once.
struct PreparedSettings {
    RunSettings settings;
    Redactor redactor;
    json secrets = json::object();
};

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

    std::int64_t next_backoff_ms(int attempt, const RetryPolicy& policy) {
        std::lock_guard lock(random_mutex);
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        return backoff_ms(attempt, policy, unit(random));
    }

    std::int64_t lease_ms() const { return std::int64_t{config.lease_seconds} * 1000; }

    void track(const std::string& run_id, ControlPtr control) {
        std::lock_guard lock(runs_mutex);
        runs_in_flight[run_id] = std::move(control);
    }

    void untrack(const std::string& run_id) {
        std::lock_guard lock(runs_mutex);
        runs_in_flight.erase(run_id);
    }

    std::map<std::string, ControlPtr> snapshot() {
        std::lock_guard lock(runs_mutex);
        return runs_in_flight;
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
    std::mutex runs_mutex;
    std::map<std::string, ControlPtr> runs_in_flight;
    std::mutex settings_mutex;
    std::shared_ptr<const PreparedSettings> settings = std::make_shared<PreparedSettings>();

    std::shared_ptr<const PreparedSettings> current_settings() {
        std::lock_guard lock(settings_mutex);
        return settings;
    }
};

using ImplPtr = std::shared_ptr<EngineState>;

// What the steps of one run share while it executes.
struct RunContext {
    EngineState& impl;
    const store::ClaimedRun& claimed;
    RunControl& control;
    std::int64_t deadline_ms = 0;  // by the engine's Clock: the run's timeout
    std::shared_ptr<const PreparedSettings> settings;

    const Redactor& redactor() const { return settings->redactor; }
};

std::string run_fields(const store::ClaimedRun& claimed) {
    return logf::fields({{logf::kRun, claimed.run.id}, {logf::kWorkflow, claimed.run.workflow}});
}

json initial_context(const store::ClaimedRun& claimed, const json& secrets) {
    return json{{"event", event_context(claimed.event)},
                {"delivery", delivery_context(claimed.event)},
                {"steps", json::object()},
                {"env", json::object()},
                {"secrets", secrets},
                {"run", {{"id", claimed.run.id}, {"attempt", claimed.run.attempt}}}};
}

asio::awaitable<Result<bool>> save_step(EngineState& impl, store::StepRow row) {
    co_return co_await store::async_call<bool>(
        [&](auto done) { impl.store.save_step(std::move(row), std::move(done)); });
}

StepFailure store_failure(const Error& error) {
    return StepFailure{"store: " + error.log_text, false, Stop::store_error};
}

void log_step(const store::ClaimedRun& claimed,
              const Step& step,
              const store::StepRow& row,
              int http_status,
              std::int64_t rate_limit_wait_ms = 0) {
    auto line =
        run_fields(claimed) + " " +
        logf::fields(
            {{logf::kStep, row.step_id}, {logf::kAction, step.uses}, {logf::kStatus, row.status}}) +
        " " + logf::field(logf::kHttpStatus, http_status) + " " +
        logf::field(logf::kAttempt, row.attempt) + " " +
        logf::field(logf::kElapsedMs, row.finished_at_ms - row.started_at_ms);
    if (rate_limit_wait_ms > 0) {
        // The wait for the connector's rate budget is part of elapsed_ms; say how much.
        line += " " + logf::field("rate_limit_wait_ms", rate_limit_wait_ms);
    }
    metrics::record_step(step.uses,
                         row.status,
                         http_status,
                         static_cast<double>(row.finished_at_ms - row.started_at_ms) / 1e3);
    if (row.status == "failed") {
        spdlog::warn("step finished {} {}", line, logf::field(logf::kErr, row.error));
    } else {
        spdlog::info("step finished {}", line);
    }
}

// Records a step that failed before or instead of its call; such failures never retry.
asio::awaitable<std::optional<StepFailure>> fail_step(RunContext& run,
                                                      const Step& step,
                                                      store::StepRow row,
                                                      std::string error) {
    error = run.redactor().text(std::move(error));
    row.status = "failed";
    row.error = error;
    row.finished_at_ms = run.impl.clock.now_ms();
    log_step(run.claimed, step, row, 0);
    const int attempt = row.attempt;
    if (auto saved = co_await save_step(run.impl, std::move(row)); !saved) {
        co_return store_failure(saved.error());
    }
    co_return StepFailure{std::move(error), false, Stop::failed, attempt};
}

// Evaluates the step's `if`: true to run it, false when it was recorded as skipped.
asio::awaitable<Result<bool>> check_condition(RunContext& run,
                                              const Step& step,
                                              store::StepRow row,
                                              json& context) {
    if (step.if_expr.empty()) {
        co_return true;
    }
    auto holds = evaluate(step.if_expr, context, run.impl.clock);
    if (!holds) {
        co_return make_error(Errc::expression,
                             "step '" + step.id + "': if: " + holds.error().log_text);
    }
    if (truthy(*holds)) {
        co_return true;
    }
    row.status = "skipped";
    row.finished_at_ms = run.impl.clock.now_ms();
    context["steps"][step.id] = json{{"output", nullptr}, {"status", "skipped"}};
    log_step(run.claimed, step, row, 0);
    auto saved = co_await save_step(run.impl, std::move(row));
    if (!saved) {
        co_return make_error(Errc::store_unavailable, saved.error().log_text);
    }
    co_return false;
}

// A connector call racing a timer. The call runs as its own coroutine on the run's strand so
// that a connector that ignores cancellation cannot hold the run past its timeout.
struct CallRace {
    explicit CallRace(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    asio::cancellation_signal cancel;
    std::optional<connectors::StepResult> result;
};

// The call's result, or nullopt when `timeout_ms` passed first (the call is then cancelled).
asio::awaitable<std::optional<connectors::StepResult>> call_with_timeout(
    connectors::Connector& connector, connectors::StepCall call, std::int64_t timeout_ms) {
    auto executor = co_await asio::this_coro::executor;
    auto race = std::make_shared<CallRace>(executor);
    // The deadline is set before the call starts: a call that completes inline (the strand
    // may run it at once) cancels nothing, and the wait below is then skipped.
    race->timer.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(timeout_ms, 0)));
    // Limitation: a connector ignoring cancellation runs on after its timeout; its answer is lost.
    asio::co_spawn(
        executor,
        [race, &connector, call = std::move(call)]() -> asio::awaitable<void> {
            auto result = co_await connector.call(call);
            race->result = std::move(result);
            race->timer.cancel();
        },
        asio::bind_cancellation_slot(race->cancel.slot(), asio::detached));
    if (!race->result) {
        boost::system::error_code ec;
        co_await race->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!race->result) {
        race->cancel.emit(asio::cancellation_type::terminal);
    }
    co_return std::move(race->result);
}

// The step's time limit, shortened to what is left of the run's; true when the run's
// limit is the shorter one.
std::pair<std::int64_t, bool> step_limit(const RunContext& run, const Step& step) {
    auto step_ms = step.timeout_ms > 0 ? step.timeout_ms : run.impl.config.step_timeout_ms;
    auto left_ms = run.deadline_ms - run.impl.clock.now_ms();
    if (left_ms < step_ms) {
        return {std::max<std::int64_t>(left_ms, 0), true};
    }
    return {step_ms, false};
}

// Calls the connector within the step's timeout and fills the row with what happened.
asio::awaitable<connectors::StepResult> timed_call(RunContext& run,
                                                   const Step& step,
                                                   connectors::Connector& connector,
                                                   connectors::StepCall call,
                                                   Stop& kind) {
    auto [limit_ms, run_limit] = step_limit(run, step);
    auto result = co_await call_with_timeout(connector, std::move(call), limit_ms);
    if (result) {
        co_return std::move(*result);
    }
    connectors::StepResult timed_out;
    timed_out.retryable = !run_limit;
    timed_out.error =
        run_limit ? "run timed out" : "step timed out after " + std::to_string(limit_ms) + " ms";
    kind = run_limit ? Stop::run_timeout : Stop::failed;
    co_return timed_out;
}

// The step rows an earlier attempt recorded, by step id.
using Recorded = std::map<std::string, const store::StepRow*>;

std::optional<StepFailure> stop_before_step(const RunContext& run);

// Fills a finished call's row, secrets redacted, and logs it.
void fill_row(const RunContext& run,
              const Step& step,
              store::StepRow& row,
              const connectors::StepResult& result) {
    row.status = result.ok ? "succeeded" : "failed";
    row.finished_at_ms = run.impl.clock.now_ms();
    row.request_json = dump(run.redactor().json(result.request));
    row.output_json = dump(run.redactor().json(result.output));
    row.error = result.ok ? "" : (result.error.empty() ? "step failed" : result.error);
    row.error = run.redactor().text(row.error);
    log_step(run.claimed, step, row, result.http_status, result.rate_limit_wait_ms);
}

// Calls the connector and records what it did under `row.step_id`; the row is `running`
// during the call, so an attempt cut short (crash, shutdown) repeats only this call. The
// output (unredacted: later steps read it) goes to the step's context entry, or for an item
// of a for_each step to the end of `item_outputs`.
// GCC 12 reports a false -Wmismatched-new-delete when it inlines Asio's coroutine frame
// allocator into this function (GCC bug 109224); the pair is Asio's own and matches.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<std::optional<StepFailure>> call_step(RunContext& run,
                                                      const Step& step,
                                                      store::StepRow& row,
                                                      connectors::Connector& connector,
                                                      json& with,
                                                      json& context,
                                                      json* item_outputs) {
    row.status = "running";
    // Limitation: a worker that lost its lease still saves its current step (no owner fencing).
    if (auto saved = co_await save_step(run.impl, row); !saved) {
        co_return store_failure(saved.error());
    }
    connectors::StepCall call{
        run.claimed.run.id, row.step_id, step.action, row.attempt, std::move(with)};
    Stop kind = Stop::failed;
    auto result = co_await timed_call(run, step, connector, std::move(call), kind);
    fill_row(run, step, row, result);
    if (item_outputs != nullptr) {
        item_outputs->push_back(std::move(result.output));
    } else {
        context["steps"][step.id] =
            json{{"output", std::move(result.output)}, {"status", row.status}};
    }
    if (auto saved = co_await save_step(run.impl, row); !saved) {
        co_return store_failure(saved.error());
    }
    if (!result.ok) {
        co_return StepFailure{
            row.error, result.retryable, kind, row.attempt, {}, result.retry_after_ms};
    }
    co_return std::nullopt;
}
#pragma GCC diagnostic pop

// This try's number: one more than the recorded try that failed or was cut short.
int step_attempt(const store::StepRow* earlier) {
    if (earlier != nullptr && (earlier->status == "failed" || earlier->status == "running")) {
        return earlier->attempt + 1;
    }
    return 1;
}

// The expression text of a template value, for errors: the string as written, else JSON.
std::string template_text(const json& value) {
    return value.is_string() ? value.get<std::string>() : dump(value);
}

// Renders `with` field by field, so an error names the step, the field and its expression.
Result<json> render_with(const RunContext& run, const Step& step, const json& context) {
    json out = json::object();
    for (auto it = step.with.begin(); it != step.with.end(); ++it) {
        auto rendered = render(it.value(), context, run.impl.clock);
        if (!rendered) {
            return make_error(
                Errc::expression,
                "step '" + step.id + "': with." + it.key() + ": " + rendered.error().log_text);
        }
        out[it.key()] = std::move(*rendered);
    }
    return out;
}

// The connector's type, which names its action specs.
std::string connector_type(const RunContext& run, const std::string& connector) {
    const auto& types = run.settings->settings.connector_types;
    auto found = types.find(connector);
    return found == types.end() ? connector : found->second;
}

// A required field that rendered to null or "" stops the step before anything is sent.
std::optional<std::string> missing_required(const RunContext& run,
                                            const Step& step,
                                            const json& with) {
    const auto* spec =
        connectors::find_action_spec(connector_type(run, step.connector), step.action);
    if (spec == nullptr) {
        return std::nullopt;
    }
    for (auto field : spec->required) {
        auto name = std::string(field);
        auto value = with.find(name);
        if (value != with.end() && !value->is_null() && *value != json("")) {
            continue;
        }
        auto written = step.with.contains(name) ? template_text(step.with[name]) : "";
        return "step '" + step.id + "': with." + name + " is required but " +
               (written.empty()
                    ? std::string("is not set")
                    : "'" + written + "' rendered " +
                          (value == with.end() || value->is_null() ? "null" : "empty")) +
               "; nothing was sent";
    }
    return std::nullopt;
}

// The connector for a step, or the reason there is none.
Result<connectors::Connector*> step_connector(const RunContext& run, const Step& step) {
    auto* connector = run.impl.connectors.find(step.connector);
    if (connector == nullptr) {
        return make_error(Errc::connector, "unknown connector '" + step.connector + "'");
    }
    if (!connector->has_action(step.action)) {
        return make_error(
            Errc::connector,
            "connector '" + step.connector + "' has no action '" + step.action + "'" +
                connectors::missing_action_hint(connector_type(run, step.connector), step.action));
    }
    return connector;
}

// The rendered `with` of one call, checked for required fields.
Result<json> prepared_with(const RunContext& run, const Step& step, const json& context) {
    auto with = render_with(run, step, context);
    if (!with) {
        return with;
    }
    if (auto missing = missing_required(run, step, *with)) {
        return make_error(Errc::invalid_workflow, *missing);
    }
    return with;
}

// The list a for_each step runs over.
Result<json> for_each_items(const RunContext& run, const Step& step, const json& context) {
    auto items = evaluate(step.for_each, context, run.impl.clock);
    if (!items) {
        return make_error(Errc::expression,
                          "step '" + step.id + "': for_each: " + items.error().log_text);
    }
    if (items->is_null()) {
        return json::array();
    }
    if (!items->is_array()) {
        return make_error(Errc::expression,
                          "step '" + step.id + "': for_each needs a list, got " +
                              std::string(items->type_name()));
    }
    if (items->size() > kMaxForEachItems) {
        return make_error(Errc::expression,
                          "step '" + step.id + "': for_each list has " +
                              std::to_string(items->size()) + " items, more than " +
                              std::to_string(kMaxForEachItems));
    }
    return items;
}

// Runs one item of a for_each step under the id `<step>[<index>]`, which is also the step
// id the connector sees, so idempotency keys differ per item. An item that succeeded in an
// earlier attempt is not called again.
asio::awaitable<std::optional<StepFailure>> run_item(RunContext& run,
                                                     const Step& step,
                                                     const store::StepRow& step_row,
                                                     const Recorded& recorded,
                                                     connectors::Connector& connector,
                                                     json& context,
                                                     json& outputs) {
    auto index = outputs.size();
    store::StepRow row = step_row;
    row.step_id = step.id + "[" + std::to_string(index) + "]";
    auto earlier = recorded.find(row.step_id);
    const auto* previous = earlier == recorded.end() ? nullptr : earlier->second;
    if (previous != nullptr && previous->status == "succeeded") {
        outputs.push_back(parse_or_null(previous->output_json));
        co_return std::nullopt;
    }
    row.attempt = step_attempt(previous);
    row.started_at_ms = run.impl.clock.now_ms();
    auto with = prepared_with(run, step, context);
    if (!with) {
        co_return co_await fail_step(
            run, step, row, "item " + std::to_string(index) + ": " + with.error().log_text);
    }
    auto failure = co_await call_step(run, step, row, connector, *with, context, &outputs);
    if (failure && failure->kind != Stop::store_error) {
        failure->error = "item " + std::to_string(index) + ": " + failure->error;
    }
    co_return failure;
}

// Records a for_each step's own row: its output is the list of item outputs.
asio::awaitable<std::optional<StepFailure>> finish_for_each(RunContext& run,
                                                            const Step& step,
                                                            store::StepRow row,
                                                            json& context,
                                                            json outputs,
                                                            std::optional<StepFailure> failure) {
    row.status = failure ? "failed" : "succeeded";
    row.error = failure ? run.redactor().text(failure->error) : "";
    row.finished_at_ms = run.impl.clock.now_ms();
    row.output_json = dump(run.redactor().json(outputs));
    context["steps"][step.id] = json{{"output", std::move(outputs)}, {"status", row.status}};
    log_step(run.claimed, step, row, 0);
    if (failure && failure->kind != Stop::failed) {
        co_return failure;
    }
    if (auto saved = co_await save_step(run.impl, std::move(row)); !saved) {
        co_return store_failure(saved.error());
    }
    co_return failure;
}

asio::awaitable<std::optional<StepFailure>> run_for_each(RunContext& run,
                                                         const Step& step,
                                                         store::StepRow row,
                                                         const Recorded& recorded,
                                                         connectors::Connector& connector,
                                                         json& context) {
    auto items = for_each_items(run, step, context);
    if (!items) {
        co_return co_await fail_step(run, step, row, items.error().log_text);
    }
    json outputs = json::array();
    std::optional<StepFailure> failure;
    for (std::size_t i = 0; i < items->size() && !failure; ++i) {
        if (i > 0) {
            failure = stop_before_step(run);
        }
        if (!failure) {
            context["item"] = (*items)[i];
            context["index"] = i;
            failure = co_await run_item(run, step, row, recorded, connector, context, outputs);
        }
    }
    context.erase("item");
    context.erase("index");
    if (failure && failure->kind == Stop::store_error) {
        co_return failure;
    }
    co_return co_await finish_for_each(run, step, row, context, std::move(outputs), failure);
}

asio::awaitable<std::optional<StepFailure>> run_step(
    RunContext& run, const Step& step, int position, const Recorded& recorded, json& context) {
    auto earlier = recorded.find(step.id);
    store::StepRow row;
    row.run_id = run.claimed.run.id;
    row.step_id = step.id;
    row.position = position;
    row.attempt = step_attempt(earlier == recorded.end() ? nullptr : earlier->second);
    row.started_at_ms = run.impl.clock.now_ms();

    auto proceed = co_await check_condition(run, step, row, context);
    if (!proceed && proceed.error().code == Errc::store_unavailable) {
        co_return store_failure(proceed.error());
    }
    if (!proceed) {
        co_return co_await fail_step(run, step, row, proceed.error().log_text);
    }
    if (!*proceed) {
        co_return std::nullopt;
    }
    auto connector = step_connector(run, step);
    if (!connector) {
        co_return co_await fail_step(run, step, row, connector.error().log_text);
    }
    if (!step.for_each.empty()) {
        co_return co_await run_for_each(run, step, row, recorded, **connector, context);
    }
    auto with = prepared_with(run, step, context);
    if (!with) {
        co_return co_await fail_step(run, step, row, with.error().log_text);
    }
    co_return co_await call_step(run, step, row, **connector, *with, context, nullptr);
}

// Why the run must not start its next step, if it must not.
std::optional<StepFailure> stop_before_step(const RunContext& run) {
    if (run.control.interrupted()) {
        return StepFailure{
            run.control.released ? "lease released" : "lease lost", false, Stop::interrupted};
    }
    // Cancelled through the admin API: the store already says so; nothing more is recorded.
    // Limitation: a cancel lets the step in flight finish; its call is not interrupted.
    if (auto now = run.impl.store.get_run(run.claimed.run.id); now && now->status == "cancelled") {
        return StepFailure{"cancelled", false, Stop::interrupted};
    }
    if (run.impl.clock.now_ms() >= run.deadline_ms) {
        return StepFailure{"run timed out", false, Stop::run_timeout};
    }
    return std::nullopt;
}

// Runs the workflow's steps in order, resuming after those a previous attempt finished.
// Renders the workflow's `env:` into the context before the first step.
std::optional<StepFailure> render_env(const RunContext& run,
                                      const Workflow& workflow,
                                      json& context) {
    for (auto it = workflow.env.begin(); it != workflow.env.end(); ++it) {
        auto value = render(it.value(), context, run.impl.clock);
        if (!value) {
            return StepFailure{
                run.redactor().text("env." + it.key() + ": " + value.error().log_text), false};
        }
        context["env"][it.key()] = std::move(*value);
    }
    return std::nullopt;
}

// Renders the workflow's `outputs:` over the full context and stores them, redacted, as the
// row of the reserved step id `outputs`.
// Limitation: outputs live in a step row, not a column of the run, so the store's run
// listings do not show them; `runs show` does, as the step `outputs`.
asio::awaitable<std::optional<StepFailure>> save_outputs(RunContext& run,
                                                         const Workflow& workflow,
                                                         const json& context) {
    if (workflow.outputs.empty()) {
        co_return std::nullopt;
    }
    store::StepRow row;
    row.run_id = run.claimed.run.id;
    row.step_id = kOutputsStepId;
    row.position = static_cast<int>(workflow.steps.size());
    row.attempt = 1;
    row.started_at_ms = run.impl.clock.now_ms();
    json outputs = json::object();
    for (auto it = workflow.outputs.begin(); it != workflow.outputs.end(); ++it) {
        auto value = render(it.value(), context, run.impl.clock);
        if (!value) {
            row.status = "failed";
            row.error = run.redactor().text("outputs." + it.key() + ": " + value.error().log_text);
            break;
        }
        outputs[it.key()] = std::move(*value);
    }
    row.status = row.status.empty() ? "succeeded" : row.status;
    row.output_json = dump(run.redactor().json(outputs));
    row.finished_at_ms = run.impl.clock.now_ms();
    auto error = row.error;
    if (auto saved = co_await save_step(run.impl, std::move(row)); !saved) {
        co_return store_failure(saved.error());
    }
    if (!error.empty()) {
        co_return StepFailure{std::move(error), false};
    }
    co_return std::nullopt;
}

// The context entry of a step recorded by an earlier attempt that needs no new call: one that
// succeeded, or one that failed with `continue_on_error` (its failure stands).
std::optional<json> recorded_entry(const Step& step, const store::StepRow* row) {
    if (row == nullptr) {
        return std::nullopt;
    }
    if (row->status == "succeeded") {
        return json{{"output", parse_or_null(row->output_json)}, {"status", "succeeded"}};
    }
    if (row->status == "failed" && step.continue_on_error) {
        return json{{"output", parse_or_null(row->output_json)},
                    {"status", "failed"},
                    {"error", row->error}};
    }
    return std::nullopt;
}

// A step with `continue_on_error` that failed: recorded as failed, and the run goes on.
// Limitation: such a step is not retried, even after a retryable failure (a 503); its one
// failed try stands for the whole run.
void continue_after(const RunContext& run,
                    const Step& step,
                    const StepFailure& failure,
                    json& context) {
    auto& entry = context["steps"][step.id];
    if (!entry.is_object()) {
        entry = json{{"output", nullptr}};
    }
    entry["status"] = "failed";
    entry["error"] = run.redactor().text(failure.error);
    spdlog::info("step failed; run continues {} {}",
                 run_fields(run.claimed),
                 logf::field(logf::kStep, step.id));
}

// Runs the workflow's steps in order, resuming after those a previous attempt finished.
asio::awaitable<std::optional<StepFailure>> run_steps(RunContext& run, const Workflow& workflow) {
    auto context = initial_context(run.claimed, run.settings->secrets);
    if (auto failed = render_env(run, workflow, context)) {
        co_return failed;
    }
    Recorded recorded;
    for (const auto& row : run.claimed.steps) {
        recorded[row.step_id] = &row;
    }
    for (std::size_t i = 0; i < workflow.steps.size(); ++i) {
        const auto& step = workflow.steps[i];
        auto earlier = recorded.find(step.id);
        auto entry = recorded_entry(step, earlier == recorded.end() ? nullptr : earlier->second);
        if (entry) {
            context["steps"][step.id] = std::move(*entry);
            continue;
        }
        if (auto stop = stop_before_step(run)) {
            co_return stop;
        }
        auto failure = co_await run_step(run, step, static_cast<int>(i), recorded, context);
        if (failure && failure->kind == Stop::failed && step.continue_on_error) {
            continue_after(run, step, *failure, context);
        } else if (failure) {
            failure->policy = effective_retry(step, run.impl.config);
            co_return failure;
        }
    }
    co_return co_await save_outputs(run, workflow, context);
}

// The outcome to record: status, next attempt time, error.
struct Outcome {
    std::string status;
    std::int64_t next_attempt_ms = 0;
    std::string error;
};

Outcome outcome_of(EngineState& impl, const std::optional<StepFailure>& failure) {
    if (!failure) {
        return Outcome{"succeeded", 0, ""};
    }
    if (failure->kind == Stop::failed && failure->retryable &&
        failure->step_attempt < failure->policy.max_attempts) {
        auto wait = impl.next_backoff_ms(failure->step_attempt, failure->policy);
        wait = std::max(wait, failure->retry_after_ms);
        return Outcome{"failed", impl.clock.now_ms() + wait, failure->error};
    }
    return Outcome{"dead", 0, failure->error};
}

// Whether an outcome may be recorded; logs why not.
bool may_record(RunContext& run, const std::optional<StepFailure>& failure) {
    auto kind = failure ? failure->kind : Stop::failed;
    if (run.control.interrupted()) {
        kind = Stop::interrupted;
    }
    switch (kind) {
        case Stop::interrupted:
            spdlog::warn(
                "run stopped without outcome {} {}",
                run_fields(run.claimed),
                logf::field(logf::kErr,
                            failure && failure->kind == Stop::interrupted
                                ? failure->error
                                : (run.control.released ? "lease released" : "lease lost")));
            return false;
        case Stop::store_error:
            // The lease is left to expire; the next claim resumes the run.
            spdlog::error("run not recorded; lease left to expire {} {}",
                          run_fields(run.claimed),
                          logf::field(logf::kErr, failure ? failure->error : std::string()));
            return false;
        case Stop::failed:
        case Stop::run_timeout:
            return true;
    }
    return true;
}

asio::awaitable<void> finish(RunContext& run,
                             const std::optional<StepFailure>& failure,
                             std::int64_t started_ms) {
    if (!may_record(run, failure)) {
        co_return;
    }
    auto& impl = run.impl;
    auto outcome = outcome_of(impl, failure);
    outcome.error = run.redactor().text(std::move(outcome.error));
    auto saved = co_await store::async_call<bool>([&](auto done) {
        impl.store.finish_run(run.claimed.run.id,
                              outcome.status,
                              run.claimed.run.attempt,
                              outcome.next_attempt_ms,
                              outcome.error,
                              std::move(done));
    });
    if (!saved) {
        // The lease expires and the run is claimed again; its succeeded steps are kept.
        spdlog::error("run finish not saved {} {}",
                      run_fields(run.claimed),
                      logf::field(logf::kErr, saved.error().log_text));
        co_return;
    }
    auto line = run_fields(run.claimed) + " " + logf::field(logf::kStatus, outcome.status) + " " +
                logf::field(logf::kElapsedMs, impl.clock.now_ms() - started_ms);
    metrics::record_run(run.claimed.run.workflow,
                        outcome.status,
                        static_cast<double>(impl.clock.now_ms() - started_ms) / 1e3);
    if (failure) {
        spdlog::warn("run finished {} {}", line, logf::field(logf::kErr, outcome.error));
    } else {
        spdlog::info("run finished {}", line);
    }
}

std::int64_t run_timeout_ms(const EngineState& impl, const Workflow* workflow) {
    if (workflow != nullptr && workflow->timeout_ms > 0) {
        return workflow->timeout_ms;
    }
    return impl.config.run_timeout_ms;
}

// Limitation: the run timeout counts one attempt (claim to outcome), not waits between tries.
asio::awaitable<void> execute_run(ImplPtr impl, ControlPtr control, store::ClaimedRun claimed) {
    auto started_ms = impl->clock.now_ms();
    spdlog::info("run started {} {} {}",
                 run_fields(claimed),
                 logf::field(logf::kEvent, claimed.event.id),
                 logf::field(logf::kAttempt, claimed.run.attempt));

    auto parsed = parse_workflow(claimed.definition, claimed.run.workflow);
    RunContext run{*impl,
                   claimed,
                   *control,
                   started_ms + run_timeout_ms(*impl, parsed.workflow.get()),
                   impl->current_settings()};
    std::optional<StepFailure> failure;
    if (!parsed.workflow) {
        auto first = parsed.errors.empty() ? std::string() : parsed.errors.front().to_string();
        failure = StepFailure{"stored workflow definition does not parse: " + first, false};
    } else {
        failure = co_await run_steps(run, *parsed.workflow);
    }
    co_await finish(run, failure, started_ms);
}

// Moves the run's lease forward every third of its length until the run ends or the lease
// is found lost.
asio::awaitable<void> renew_lease(ImplPtr impl, ControlPtr control, std::string run_id) {
    const auto lease_ms = impl->lease_ms();
    const auto interval_ms = impl->config.lease_renew_interval_ms > 0
                                 ? impl->config.lease_renew_interval_ms
                                 : std::max<std::int64_t>(lease_ms / 3, 1);
    while (!control->done) {
        control->renew_timer.expires_after(std::chrono::milliseconds(interval_ms));
        boost::system::error_code ec;
        co_await control->renew_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (control->done || control->released) {
            co_return;
        }
        auto renewed = co_await store::async_call<bool>([&](auto done) {
            impl->store.renew_lease(
                run_id, impl->owner, impl->clock.now_ms() + lease_ms, std::move(done));
        });
        if (!renewed) {
            spdlog::warn(
                "lease renewal failed {}",
                logf::fields({{logf::kRun, run_id}, {logf::kErr, renewed.error().log_text}}));
        } else if (!*renewed) {
            control->lease_lost = true;
            spdlog::warn("lease lost; run stops after its current step {}",
                         logf::field(logf::kRun, run_id));
            co_return;
        }
    }
}

void spawn_run(const ImplPtr& impl, store::ClaimedRun claimed) {
    impl->add_in_flight(1);
    auto run_id = claimed.run.id;
    auto control = std::make_shared<RunControl>(impl->executor);
    impl->track(run_id, control);
    asio::co_spawn(control->strand, renew_lease(impl, control, run_id), asio::detached);
    asio::co_spawn(control->strand,
                   execute_run(impl, control, std::move(claimed)),
                   [impl, control, run_id](const std::exception_ptr& error) {
                       if (error) {
                           // The run keeps its lease and is claimed again when it expires.
                           spdlog::error(
                               "run aborted {}",
                               logf::fields({{logf::kRun, run_id}, {logf::kErr, "exception"}}));
                       }
                       control->done = true;
                       control->renew_timer.cancel();
                       impl->untrack(run_id);
                       impl->add_in_flight(-1);
                       impl->wake();
                   });
}

asio::awaitable<void> claim_and_spawn(const ImplPtr& impl) {
    int free = impl->config.workers - impl->running.load();
    if (free <= 0) {
        co_return;
    }
    const std::int64_t lease_ms = impl->lease_ms();
    auto claimed = co_await store::async_call<std::vector<store::ClaimedRun>>([&](auto done) {
        impl->store.claim_runs(impl->owner, free, impl->clock.now_ms(), lease_ms, std::move(done));
    });
    if (!claimed) {
        spdlog::warn("claim failed {}", logf::field(logf::kErr, claimed.error().log_text));
        co_return;
    }
    for (auto& run : *claimed) {
        if (impl->stopped) {
            // Claimed while stopping: give it straight back.
            impl->store.release_run(run.run.id, impl->owner, [](const Result<bool>&) {});
            continue;
        }
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
    asio::co_spawn(impl_->strand, poll(impl_), [](const std::exception_ptr& error) {
        if (error) {
            spdlog::error("engine poller stopped {}", logf::field(logf::kErr, "exception"));
        }
    });
}

void Engine::configure(RunSettings settings) {
    auto prepared = std::make_shared<PreparedSettings>();
    prepared->redactor = Redactor(settings.secrets);
    for (const auto& [name, value] : settings.secrets) {
        prepared->secrets[name] = value;
    }
    prepared->settings = std::move(settings);
    std::lock_guard lock(impl_->settings_mutex);
    impl_->settings = std::move(prepared);
}

RunSettings run_settings(const config::Config& config) {
    RunSettings settings;
    for (const auto& [name, secret] : config.secrets) {
        settings.secrets[name] = secret.value;
    }
    for (const auto& [name, block] : config.connectors) {
        settings.connector_types[name] = block.type.empty() ? name : block.type;
    }
    return settings;
}

void Engine::wake() {
    impl_->wake();
}

void Engine::stop() {
    if (impl_->stopped.exchange(true)) {
        return;
    }
    asio::post(impl_->strand, [impl = impl_] { impl->timer.cancel(); });
}

void Engine::release_all(std::function<void(int released)> done) {
    stop();
    auto runs = impl_->snapshot();
    if (runs.empty()) {
        done(0);
        return;
    }
    struct Pending {
        std::atomic<int> left;
        std::atomic<int> released{0};
        std::function<void(int)> done;
    };
    auto pending = std::make_shared<Pending>();
    pending->left = static_cast<int>(runs.size());
    pending->done = std::move(done);
    for (const auto& [run_id, control] : runs) {
        control->released = true;
        impl_->store.release_run(run_id, impl_->owner, [pending, run_id](Result<bool> released) {
            if (released && *released) {
                ++pending->released;
                spdlog::info("run released {}", logf::field(logf::kRun, run_id));
            } else if (!released) {
                spdlog::error(
                    "run release failed; its lease will expire {}",
                    logf::fields({{logf::kRun, run_id}, {logf::kErr, released.error().log_text}}));
            }
            if (--pending->left == 0) {
                pending->done(pending->released.load());
            }
        });
    }
}

}  // namespace hookflow::engine
