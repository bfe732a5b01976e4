#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
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

/// Where something was written in a workflow file (1-based; 0 when unknown).
struct Position {
    int line = 0;
    int col = 0;
};

/// A `root.NAME` a workflow's expressions read (such as `secrets.STRIPE_KEY`), and where.
struct NameUse {
    std::string name;
    Position at;
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
    bool continue_on_error = false;
    std::string for_each;  // the list expression (inner text); empty: runs once
    Position at;           // the step's map
    Position uses_at;
    std::map<std::string, Position> with_at;  // each top-level `with` key
};

/// The most items a `for_each` step runs over; a longer list fails the step.
inline constexpr std::size_t kMaxForEachItems = 100;

/// The step id under which a run's rendered `outputs` are stored.
inline constexpr const char* kOutputsStepId = "outputs";

struct Trigger {
    int line = 0;
    std::string source;
    std::vector<std::string> events;  // empty: every event type
    std::string if_expr;
    Position source_at;
};

struct Workflow {
    std::string name;
    std::string description;
    std::string file;
    std::string hash;  // hex SHA-256 of the text
    std::string text;  // the YAML as read
    Trigger on;
    std::vector<Step> steps;
    std::int64_t timeout_ms = 0;  // 0: engine.run_timeout
    Concurrency concurrency;
    nlohmann::json env = nlohmann::json::object();      // NAME -> template over {event, delivery}
    nlohmann::json outputs = nlohmann::json::object();  // NAME -> template over the full context
    std::vector<NameUse> secrets_used;                  // every `secrets.NAME` read
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
/// `connector_exists` does not know, an action the connector lacks (with a hint when
/// `type_of`, a connector's type from its name, is given and the action needs a flavour).
std::vector<LoadError> check_references(
    const Workflow& workflow,
    const std::vector<std::string>& sources,
    const std::function<bool(const std::string& connector, const std::string& action)>&
        action_exists,
    const std::function<bool(const std::string& connector)>& connector_exists,
    const std::function<std::string(const std::string& connector)>& type_of = {});

/// Problems with the `with` fields of each step against its action's spec (unknown field,
/// missing required field). `type_of` gives a connector's type from its name ("" when
/// unknown; such steps are left to check_references).
std::vector<LoadError> check_actions(const Workflow& workflow,
                                     const std::function<std::string(const std::string&)>& type_of);

/// `secrets.NAME` reads whose NAME is not in `secrets`.
std::vector<LoadError> check_secrets(const Workflow& workflow,
                                     const std::vector<std::string>& secrets);

/// Whether a trigger's source and event list match (the `if` is checked separately).
bool trigger_matches(const Trigger& trigger, const std::string& source, const std::string& type);

}  // namespace hookflow::engine
