// `hookflow test`: one workflow, one payload, mock connectors, and the real engine over a
// store in a temporary folder that is deleted before the command returns.

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <span>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "app/commands.hpp"
#include "app/test_mocks.hpp"
#include "app/tools.hpp"
#include "app/workflows.hpp"
#include <hookflow/common/clock.hpp>
#include <hookflow/common/json_limits.hpp>
#include <hookflow/engine/engine.hpp>
#include <hookflow/engine/expression.hpp>
#include <hookflow/store/sqlite_store.hpp>

namespace hookflow::app {

namespace asio = boost::asio;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr int kBadInput = 2;
constexpr auto kRunLimit = std::chrono::seconds(120);
constexpr auto kWatchInterval = std::chrono::milliseconds(5);
constexpr std::string_view kConnectorKinds[] = {
    "stripe", "crm", "llm", "sendgrid", "slack", "http"};

// The wall clock plus an offset that jumps over retry backoffs, so a test run takes every
// attempt a workflow allows without waiting for them.
class SkippingClock final : public Clock {
  public:
    std::int64_t now_ms() const override { return SystemClock::instance().now_ms() + offset_; }
    std::int64_t now_unix() const override { return now_ms() / 1000; }

    /// Moves the clock forward to `ms` (never back).
    void skip_to(std::int64_t ms) {
        auto gap = ms - now_ms();
        if (gap > 0) {
            offset_ += gap;
        }
    }

  private:
    std::atomic<std::int64_t> offset_{0};
};

// A folder removed with everything in it when the command ends.
struct TempDir {
    std::filesystem::path path;

    TempDir() {
        auto pattern = (std::filesystem::temp_directory_path() / "hookflow-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) != nullptr) {
            path = pattern;
        }
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        if (!path.empty()) {
            std::filesystem::remove_all(path, ignored);
        }
    }
};

std::optional<std::string> read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in || std::filesystem::is_directory(path)) {
        return std::nullopt;
    }
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The config to test with: the file when there is one, else the defaults.
std::optional<config::Config> test_config(const TestOptions& options, bool& from_file) {
    config::Config config;
    from_file = options.config_given || std::filesystem::exists(options.config_path);
    if (from_file) {
        auto loaded = load_or_report(options.config_path);
        if (!loaded) {
            return std::nullopt;
        }
        config = std::move(*loaded);
    }
    // Without a config every connector kind exists under its own name; with one, the
    // workflow is checked against the connectors it configures, as `validate` does.
    for (auto kind : from_file ? std::span<const std::string_view>() : kConnectorKinds) {
        config::ConnectorConfig block;
        block.name = kind;
        block.type = kind;
        config.connectors.try_emplace(block.name, block);
    }
    config.engine.workers = 1;
    config.engine.poll_interval_ms = 20;
    return config;
}

// Parses and checks the workflow as `validate` does. Without a config file there are no
// sources to check `on.source` against, so the workflow's own source is taken as configured.
std::shared_ptr<const engine::Workflow> load_workflow(config::Config& config,
                                                      const connectors::Registry& registry,
                                                      const std::string& path,
                                                      bool have_config_file) {
    auto text = read_text(path);
    if (!text) {
        std::cerr << path << ": cannot read the workflow file\n";
        return nullptr;
    }
    auto parsed = engine::parse_workflow(*text, path);
    if (parsed.workflow && !have_config_file) {
        const auto& source = parsed.workflow->on.source;
        config::SourceConfig stand_in;
        stand_in.name = source;
        config.sources.try_emplace(source, stand_in);
    }
    auto outcome = load_checked_workflows(config, registry, {path});
    for (const auto& error : outcome.errors) {
        std::cerr << error.to_string() << "\n";
    }
    if (!outcome.errors.empty() || outcome.workflows.size() != 1) {
        return nullptr;
    }
    return outcome.workflows.front();
}

// "line L, column C" of a byte offset, for JSON parse errors.
std::string position_of(const std::string& text, std::size_t offset) {
    int line = 1;
    int col = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return std::to_string(line) + ":" + std::to_string(col);
}

struct Payload {
    std::string body;
    json value;
    std::string type;
    std::string delivery_id;
};

std::optional<Payload> read_payload(const TestOptions& options) {
    auto text = read_text(options.event);
    if (!text) {
        std::cerr << options.event << ": cannot read the event file\n";
        return std::nullopt;
    }
    Payload payload{*text, nullptr, options.type, "test-delivery"};
    if (json_too_deep(*text)) {
        std::cerr << options.event << ": the event is " << json_depth_message() << "\n";
        return std::nullopt;
    }
    try {
        payload.value = json::parse(*text);
    } catch (const json::parse_error& e) {
        auto offset = e.byte > 0 ? e.byte - 1 : 0;
        std::cerr << options.event << ":" << position_of(*text, offset)
                  << ": the event is not valid JSON\n";
        return std::nullopt;
    }
    if (!payload.value.is_object()) {
        std::cerr << options.event << ":1:1: the event must be a JSON object\n";
        return std::nullopt;
    }
    if (payload.type.empty() && payload.value.contains("type") &&
        payload.value["type"].is_string()) {
        payload.type = payload.value["type"].get<std::string>();
    }
    if (payload.type.empty()) {
        std::cerr << options.event << ": the event has no \"type\"; give one with --type\n";
        return std::nullopt;
    }
    if (payload.value.contains("id") && payload.value["id"].is_string()) {
        payload.delivery_id = payload.value["id"].get<std::string>();
    }
    return payload;
}

// A mock file may only name steps the workflow has: a typo would otherwise silently fall
// back to the default answer.
bool check_mock_steps(const MockPlan& plan,
                      const engine::Workflow& workflow,
                      const std::string& file) {
    bool ok = true;
    for (const auto& [id, answers] : plan.steps) {
        bool found = false;
        for (const auto& step : workflow.steps) {
            found = found || step.id == id;
        }
        if (!found) {
            std::cerr << file << ": steps." << id << ": the workflow has no step '" << id << "'\n";
            ok = false;
        }
    }
    return ok;
}

template <class T, class Start>
Result<T> wait_for(Start start) {
    std::promise<Result<T>> promise;
    auto future = promise.get_future();
    start([&promise](Result<T> result) { promise.set_value(std::move(result)); });
    return future.get();
}

store::NewEvent new_event(const std::string& source,
                          const std::string& provider,
                          const Payload& payload,
                          const Clock& clock) {
    return store::NewEvent{source,
                           provider,
                           payload.delivery_id,
                           payload.type,
                           clock.now_ms(),
                           R"([["Content-Type","application/json"]])",
                           payload.body};
}

// Why the workflow did not start for this event.
std::string not_triggered_reason(const engine::Workflow& workflow,
                                 const std::string& source,
                                 const std::string& type,
                                 const json& context) {
    if (!engine::trigger_matches(workflow.on, source, type)) {
        std::string events;
        for (const auto& pattern : workflow.on.events) {
            events += (events.empty() ? "" : ", ") + pattern;
        }
        return "the event (source " + source + ", type " + type + ") does not match on: (source " +
               workflow.on.source + ", events [" + (events.empty() ? "*" : events) + "])";
    }
    auto holds = engine::evaluate(workflow.on.if_expr, context);
    if (!holds) {
        return "on.if failed: " + holds.error().log_text;
    }
    return "on.if is false: " + workflow.on.if_expr;
}

}  // namespace

namespace {

// What the offline run left behind, read back from the store.
struct RunReport {
    bool triggered = false;
    std::string not_triggered;
    std::optional<store::RunRow> run;
    std::vector<store::StepRow> steps;
    std::vector<MockCall> calls;
    bool timed_out = false;
};

// Watches the run until it is final; jumps the clock over each retry's backoff.
class RunWatch {
  public:
    RunWatch(asio::io_context& io,
             store::Store& store,
             engine::Engine& engine,
             SkippingClock& clock,
             std::string run_id)
        : io_(io),
          store_(store),
          engine_(engine),
          clock_(clock),
          run_id_(std::move(run_id)),
          timer_(io),
          deadline_(std::chrono::steady_clock::now() + kRunLimit) {}

    void start() { arm(); }
    bool timed_out() const { return timed_out_; }

  private:
    void arm() {
        timer_.expires_after(kWatchInterval);
        timer_.async_wait([this](boost::system::error_code ec) {
            if (!ec) {
                check();
            }
        });
    }

    void check() {
        auto run = store_.get_run(run_id_);
        // Final in the store, and the run's coroutine done with it.
        const bool final =
            run && engine_.in_flight() == 0 &&
            (run->status == "succeeded" || run->status == "dead" || run->status == "stale");
        timed_out_ = !final && std::chrono::steady_clock::now() > deadline_;
        if (final || timed_out_) {
            engine_.stop();
            io_.stop();
            return;
        }
        if (run && run->status == "failed" && run->next_attempt_at_ms > clock_.now_ms()) {
            clock_.skip_to(run->next_attempt_at_ms);
            engine_.wake();
        }
        arm();
    }

    asio::io_context& io_;
    store::Store& store_;
    engine::Engine& engine_;
    SkippingClock& clock_;
    std::string run_id_;
    asio::steady_timer timer_;
    std::chrono::steady_clock::time_point deadline_;
    bool timed_out_ = false;
};

// Everything one offline run needs; built in order, torn down in reverse.
struct OfflineRun {
    const config::Config& config;
    std::shared_ptr<const engine::Workflow> workflow;
    const Payload& payload;
    std::string source;
    std::shared_ptr<MockBook> book;
    const connectors::Registry& real;
};

RunReport execute(const OfflineRun& in, store::Store& store, SkippingClock& clock) {
    RunReport report;
    auto found = in.config.sources.find(in.source);
    const std::string provider = found == in.config.sources.end() ? "" : found->second.provider;
    auto event = new_event(in.source, provider, in.payload, clock);
    store::EventRow row{"",
                        event.source,
                        event.provider,
                        event.delivery_id,
                        event.type,
                        event.received_at_ms,
                        event.headers_json,
                        event.body};
    json context = {{"event", in.payload.value}, {"delivery", engine::delivery_context(row)}};
    engine::WorkflowSet set({in.workflow});
    auto runs = set.match(in.source, in.payload.type, context);
    if (runs.empty()) {
        report.not_triggered =
            not_triggered_reason(*in.workflow, in.source, in.payload.type, context);
        return report;
    }
    report.triggered = true;
    auto stored = wait_for<store::EnqueueResult>(
        [&](auto done) { store.enqueue(event, runs, std::move(done)); });
    if (!stored) {
        report.not_triggered = "store: " + stored.error().log_text;
        return report;
    }
    auto run_id = store.runs_for_event(stored->event_id).at(0).id;

    asio::io_context io(1);
    auto mocks = mock_registry(in.real, in.book);
    engine::Engine engine(io.get_executor(), store, *mocks, in.config.engine, clock);
    engine.configure(engine::run_settings(in.config));
    RunWatch watch(io, store, engine, clock, run_id);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (!ec) {
            engine.stop();
            io.stop();
        }
    });
    engine.start();
    watch.start();
    io.run();
    report.timed_out = watch.timed_out();
    report.run = store.get_run(run_id);
    report.steps = store.steps_for_run(run_id);
    report.calls = in.book->calls();
    // Store callbacks still on their way post into `io`: let them land before it goes away.
    store.close();
    return report;
}

ordered_json parsed(const std::string& text) {
    if (text.empty()) {
        return nullptr;
    }
    auto value = parse_ordered_json_bounded(text);
    return value ? std::move(value.value()) : ordered_json(text);
}

// The run's rendered `outputs:`, stored as a step row of their own; null when none.
ordered_json run_outputs(const std::vector<store::StepRow>& rows) {
    for (const auto& row : rows) {
        if (row.step_id == engine::kOutputsStepId) {
            return parsed(row.output_json);
        }
    }
    return nullptr;
}

ordered_json report_json(const engine::Workflow& workflow,
                         const Payload& payload,
                         const std::string& source,
                         const RunReport& report) {
    ordered_json steps = ordered_json::array();
    for (const auto& step : workflow.steps) {
        const store::StepRow* row = nullptr;
        for (const auto& recorded : report.steps) {
            row = recorded.step_id == step.id ? &recorded : row;
        }
        steps.push_back({{"id", step.id},
                         {"uses", step.uses},
                         {"status", row ? row->status : "not_reached"},
                         {"attempt", row ? row->attempt : 0},
                         {"with", row ? parsed(row->request_json) : nullptr},
                         {"output", row ? parsed(row->output_json) : nullptr},
                         {"error", row ? row->error : ""}});
    }
    ordered_json calls = ordered_json::array();
    for (const auto& call : report.calls) {
        calls.push_back({{"step", call.step_id},
                         {"uses", call.uses},
                         {"attempt", call.attempt},
                         {"status", call.status},
                         {"with", call.with}});
    }
    std::string status = !report.triggered  ? "not_triggered"
                         : report.timed_out ? "timed_out"
                         : report.run       ? report.run->status
                                            : "unknown";
    return {{"workflow", workflow.name},
            {"file", workflow.file},
            {"hash", workflow.hash},
            {"source", source},
            {"type", payload.type},
            {"triggered", report.triggered},
            {"status", status},
            {"attempts", report.run ? report.run->attempt : 0},
            {"error",
             report.triggered ? (report.run ? report.run->last_error : "") : report.not_triggered},
            {"steps", steps},
            {"outputs", run_outputs(report.steps)},
            {"calls", calls}};
}

void print_text(const ordered_json& doc) {
    std::cout << "workflow " << doc["workflow"].get<std::string>() << " ("
              << doc["file"].get<std::string>() << ")\n"
              << "event " << doc["type"].get<std::string>() << " from "
              << doc["source"].get<std::string>() << "\n";
    if (!doc["triggered"].get<bool>()) {
        std::cout << "not triggered: " << doc["error"].get<std::string>() << "\n";
        return;
    }
    for (const auto& step : doc["steps"]) {
        std::cout << "step " << step["id"].get<std::string>() << " ("
                  << step["uses"].get<std::string>() << "): " << step["status"].get<std::string>();
        if (step["attempt"].get<int>() > 1) {
            std::cout << " after " << step["attempt"].get<int>() << " attempts";
        }
        std::cout << "\n";
        if (!step["with"].is_null()) {
            std::cout << "  with:   " << step["with"].dump() << "\n";
        }
        if (!step["output"].is_null()) {
            std::cout << "  output: " << step["output"].dump() << "\n";
        }
        if (!step["error"].get<std::string>().empty()) {
            std::cout << "  error:  " << step["error"].get<std::string>() << "\n";
        }
    }
    if (!doc["outputs"].is_null()) {
        std::cout << "outputs: " << doc["outputs"].dump() << "\n";
    }
    std::cout << "run " << doc["status"].get<std::string>();
    if (!doc["error"].get<std::string>().empty()) {
        std::cout << ": " << doc["error"].get<std::string>();
    }
    std::cout << "\n";
}

}  // namespace

int test_workflow(const TestOptions& options) {
    // The engine's own lines would repeat what the report prints.
    spdlog::set_level(spdlog::level::err);
    bool have_config_file = false;
    auto config = test_config(options, have_config_file);
    if (!config) {
        return kBadInput;
    }
    asio::io_context unused;
    connectors::RestClient client(unused.get_executor());  // the mocks never call it
    auto real = connectors::Registry::build(*config, client);
    if (!real) {
        std::cerr << real.error().log_text << "\n";
        return kBadInput;
    }
    auto workflow = load_workflow(*config, **real, options.workflow, have_config_file);
    auto payload = read_payload(options);
    MockPlan plan;
    if (!options.mock.empty()) {
        auto loaded = load_mock_plan(options.mock);
        if (!loaded) {
            std::cerr << loaded.error().log_text << "\n";
            return kBadInput;
        }
        plan = std::move(*loaded);
    }
    if (!workflow || !payload || !check_mock_steps(plan, *workflow, options.mock)) {
        return kBadInput;
    }

    TempDir dir;
    if (dir.path.empty()) {
        std::cerr << "cannot create a temporary folder\n";
        return kBadInput;
    }
    SkippingClock clock;
    auto store =
        store::open_sqlite(store::SqliteOptions{(dir.path / "test.db").string(), 2000, 64}, clock);
    if (!store) {
        std::cerr << "cannot open the test store: " << store.error().log_text << "\n";
        return 1;
    }
    OfflineRun run{
        *config,
        workflow,
        *payload,
        options.source.empty() ? workflow->on.source : options.source,
        std::make_shared<MockBook>(std::move(plan), engine::run_settings(*config).secrets),
        **real};
    auto report = execute(run, **store, clock);
    (*store)->close();
    auto doc = report_json(*workflow, *payload, run.source, report);
    if (options.json) {
        std::cout << doc.dump(2) << "\n";
    } else {
        print_text(doc);
    }
    return doc["status"] == "succeeded" ? 0 : 1;
}

}  // namespace hookflow::app
