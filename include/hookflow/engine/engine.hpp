#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <hookflow/common/clock.hpp>
#include <hookflow/config/config.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/engine/workflow.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::engine {

/// The loaded workflows, and which of them an event starts.
class WorkflowSet {
  public:
    explicit WorkflowSet(std::vector<std::shared_ptr<const Workflow>> workflows);

    /// Runs to queue for an event: workflows whose source and events match and whose `on.if`
    /// holds over `{event, delivery}`. A failing `if` expression is logged and matches nothing.
    std::vector<store::NewRun> match(const std::string& source,
                                     const std::string& type,
                                     const nlohmann::json& context) const;

    const std::vector<std::shared_ptr<const Workflow>>& workflows() const { return workflows_; }

  private:
    std::vector<std::shared_ptr<const Workflow>> workflows_;
};

/// The retry policy a step runs with: its own `retry:` values, the engine's for the rest.
RetryPolicy effective_retry(const Step& step, const config::EngineConfig& config);

/// The wait after failed attempt `attempt` (1-based): initial * 2^(attempt-1), at most
/// `max_backoff_ms`, then +-20% jitter picked by `unit` in [0, 1), still at most the cap.
std::int64_t backoff_ms(int attempt, const RetryPolicy& policy, double unit);

/// The `event` context of a stored event: its JSON body, or a form body as an object of
/// strings; null when it is neither.
nlohmann::json event_context(const store::EventRow& event);

/// The `delivery` context of an event as workflows see it.
nlohmann::json delivery_context(const store::EventRow& event);

/// What runs need from the config beyond `engine:`.
struct RunSettings {
    std::map<std::string, std::string> secrets;          // `secrets:` NAME -> value
    std::map<std::string, std::string> connector_types;  // connector name -> type
};

/// The run settings of a config: its secrets and its connectors' types.
RunSettings run_settings(const config::Config& config);

/// Claims queued runs from the store and executes them as coroutines, at most
/// `engine.workers` at a time.
class Engine {
  public:
    Engine(boost::asio::any_io_executor executor,
           store::Store& store,
           connectors::Registry& connectors,
           const config::EngineConfig& config,
           const Clock& clock);
    ~Engine();

    /// Sets the secrets (the `secrets` context, redacted from everything stored and logged)
    /// and connector types (for required `with` fields) of runs claimed from now on.
    void configure(RunSettings settings);

    /// Starts polling the store for due runs.
    void start();

    /// Asks the poller to look for runs now (after an enqueue).
    void wake();

    /// Stops claiming new runs; runs in flight go on until they finish.
    void stop();

    /// Stops claiming and gives the leases of the runs still in flight back to the store
    /// (queued, due now, attempt not counted) so the next start resumes them at once; their
    /// outcomes are then not recorded here. `done` gets how many were released; it is called
    /// once, on any thread (inline when nothing is in flight).
    void release_all(std::function<void(int released)> done);

    /// Runs in flight right now.
    int in_flight() const { return in_flight_.load(); }

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
    std::atomic<int> in_flight_{0};
};

}  // namespace hookflow::engine
