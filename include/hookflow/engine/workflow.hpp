#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <hookflow/common/result.hpp>

namespace hookflow::engine {

/// A `file:line:col: message` problem found while loading a workflow or config.
struct LoadError {
    std::string file;
    int line = 0;  // 1-based
    int col = 0;   // 1-based
    std::string message;

    std::string to_string() const;
};

/// A step's `retry:` block; 0 takes the engine's default (`engine.retry.*`).
struct RetryPolicy {
    int max_attempts = 0;
    std::int64_t initial_backoff_ms = 0;
    std::int64_t max_backoff_ms = 0;
};

/// A workflow's `concurrency:` block. `key` and `stale_guard` are templates evaluated over
/// `{event, delivery}` when the event is stored; limit 0 means no limit.
struct Concurrency {
    nlohmann::json key;  // null: no key
    int limit = 0;
    nlohmann::json stale_guard;  // null: no staleness guard
};

struct Step {
    std::string id;
    std::string uses;                                // connector.action, as written
    std::string connector;                           // before the dot
    std::string action;                              // after the dot
    nlohmann::json with = nlohmann::json::object();  // the template, rendered at run time
    std::string if_expr;                             // empty: always
    int line = 0;
    RetryPolicy retry;
    std::int64_t timeout_ms = 0;  // 0: engine.step_timeout
};

struct Trigger {
    int line = 0;
    std::string source;
    std::vector<std::string> events;  // empty: every event type
    std::string if_expr;
};

struct Workflow {
    std::string name;
    std::string file;
    std::string hash;  // hex SHA-256 of the text
    std::string text;  // the YAML as read
    Trigger on;
    std::vector<Step> steps;
    std::int64_t timeout_ms = 0;  // 0: engine.run_timeout
    Concurrency concurrency;
};

/// Parses one workflow. Every problem found is returned, each with file, line and column.
struct ParseOutcome {
    std::shared_ptr<const Workflow> workflow;  // null when errors is not empty
    std::vector<LoadError> errors;
};
ParseOutcome parse_workflow(const std::string& text, const std::string& file);

/// Loads every `*.yaml` and `*.yml` file in a folder (sorted by name). A missing folder is
/// an error; a duplicate workflow name is an error naming both files.
struct LoadOutcome {
    std::vector<std::shared_ptr<const Workflow>> workflows;
    std::vector<LoadError> errors;
};
LoadOutcome load_workflows(const std::filesystem::path& dir);

/// Problems with what a workflow names: a source not in `sources`, a connector that
/// `connector_exists` does not know, an action the connector lacks.
std::vector<LoadError> check_references(
    const Workflow& workflow,
    const std::vector<std::string>& sources,
    const std::function<bool(const std::string& connector, const std::string& action)>&
        action_exists,
    const std::function<bool(const std::string& connector)>& connector_exists);

/// Whether a trigger's source and event list match (the `if` is checked separately).
bool trigger_matches(const Trigger& trigger, const std::string& source, const std::string& type);

}  // namespace hookflow::engine
