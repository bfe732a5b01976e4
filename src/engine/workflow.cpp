// Workflow files: YAML to the Workflow model, reporting every problem with its position.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "expression_internal.hpp"
#include <hookflow/common/crypto.hpp>
#include <hookflow/config/config.hpp>
#include <hookflow/connectors/actions.hpp>
#include <hookflow/engine/expression.hpp>
#include <hookflow/engine/workflow.hpp>

namespace hookflow::engine {

namespace {

using nlohmann::json;

const std::vector<std::string> kWorkflowKeys = {
    "name", "description", "on", "env", "steps", "outputs", "timeout", "concurrency"};
const std::vector<std::string> kTriggerKeys = {"source", "events", "if"};
const std::vector<std::string> kStepKeys = {
    "id", "uses", "with", "if", "retry", "timeout", "continue_on_error", "for_each"};
const std::vector<std::string> kRetryKeys = {"max_attempts", "initial_backoff", "max_backoff"};
const std::vector<std::string> kConcurrencyKeys = {"key", "limit", "stale_guard"};

std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string suggestion(const std::string& key, const std::vector<std::string>& allowed) {
    constexpr std::size_t kMaxDistance = 2;
    std::string best;
    std::size_t best_distance = kMaxDistance + 1;
    for (const auto& candidate : allowed) {
        auto distance = edit_distance(key, candidate);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best.empty() ? "" : "; did you mean '" + best + "'?";
}

bool matches(const std::string& text, const std::regex& pattern) {
    return std::regex_match(text, pattern);
}

// YAML 1.2 core schema for plain scalars: only unquoted true/false, null and numbers are typed.
json plain_scalar(const std::string& text) {
    static const std::regex kInt("[-+]?[0-9]+");
    static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
        return nullptr;
    }
    if (text == "true" || text == "True" || text == "TRUE") {
        return true;
    }
    if (text == "false" || text == "False" || text == "FALSE") {
        return false;
    }
    if (matches(text, kInt)) {
        std::int64_t value = 0;
        const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
        auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
        if (ec == std::errc() && end == text.data() + text.size()) {
            return value;
        }
    }
    if (matches(text, kFloat) || matches(text, kInt)) {
        return std::strtod(text.c_str(), nullptr);
    }
    return text;
}

Position position_of(const YAML::Mark& mark) {
    return Position{std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1};
}

std::string step_label(const std::string& id, std::size_t index) {
    return id.empty() ? "step " + std::to_string(index + 1) : "step '" + id + "'";
}

class WorkflowParser {
  public:
    WorkflowParser(const std::string& text, const std::string& file) : text_(text), file_(file) {}

    ParseOutcome run() {
        try {
            parse_root(YAML::Load(text_));
        } catch (const YAML::Exception& e) {
            errors_.clear();
            error(e.mark, "invalid YAML: " + e.msg);
        }
        if (!errors_.empty()) {
            return ParseOutcome{nullptr, std::move(errors_)};
        }
        workflow_.file = file_;
        workflow_.text = text_;
        workflow_.hash = to_hex(sha256(text_));
        return ParseOutcome{std::make_shared<const Workflow>(std::move(workflow_)), {}};
    }

  private:
    void error(const YAML::Mark& mark, std::string message) {
        errors_.push_back(LoadError{
            file_, std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1, std::move(message)});
    }

    void check_keys(const YAML::Node& map,
                    const std::vector<std::string>& allowed,
                    const std::string& where) {
        std::set<std::string> seen;
        for (auto it = map.begin(); it != map.end(); ++it) {
            auto key = it->first.Scalar();
            if (!seen.insert(key).second) {
                error(it->first.Mark(), "duplicate key '" + key + "' in " + where);
            } else if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                error(it->first.Mark(),
                      "unknown key '" + key + "' in " + where + suggestion(key, allowed));
            }
        }
    }

    std::optional<std::string> string_value(const YAML::Node& node, const std::string& what) {
        if (!node.IsScalar()) {
            error(node.Mark(), what + " must be a string");
            return std::nullopt;
        }
        return node.Scalar();
    }

    void parse_root(const YAML::Node& root) {
        if (root.IsNull()) {
            error(root.Mark(), "workflow is empty");
            return;
        }
        if (!root.IsMap()) {
            error(root.Mark(), "workflow must be a YAML map");
            return;
        }
        check_keys(root, kWorkflowKeys, "workflow");
        parse_name(root);
        if (root["description"]) {
            if (auto text = string_value(root["description"], "'description'")) {
                workflow_.description = *text;
            }
        }
        collect_step_ids(root["steps"]);
        parse_trigger(root);
        parse_env(root);
        parse_steps(root);
        parse_outputs(root);
        if (root["timeout"]) {
            workflow_.timeout_ms = duration(root["timeout"], "'timeout'");
        }
        if (root["concurrency"]) {
            parse_concurrency(root["concurrency"]);
        }
    }

    // Every step id, before any expression is checked, so a reference to a later step can be
    // told apart from one to no step at all.
    void collect_step_ids(const YAML::Node& steps) {
        if (!steps || !steps.IsSequence()) {
            return;
        }
        for (const auto& step : steps) {
            if (step.IsMap() && step["id"] && step["id"].IsScalar()) {
                all_steps_.insert(step["id"].Scalar());
            }
        }
    }

    // `env:` values are rendered before any step runs, so they may not read `steps`.
    void parse_env(const YAML::Node& root) {
        const YAML::Node env = root["env"];
        if (!env) {
            return;
        }
        if (!env.IsMap()) {
            error(env.Mark(), "'env' must be a map of names to values");
            return;
        }
        static const std::regex kName("[A-Za-z_][A-Za-z0-9_]*");
        for (auto it = env.begin(); it != env.end(); ++it) {
            auto name = it->first.Scalar();
            if (!matches(name, kName)) {
                error(it->first.Mark(), "env name '" + name + "' must be letters, digits and '_'");
                continue;
            }
            workflow_.env[name] = convert(it->second, "env." + name, {});
        }
    }

    // `outputs:` are rendered after the last step, so they may read every step.
    void parse_outputs(const YAML::Node& root) {
        const YAML::Node outputs = root["outputs"];
        if (!outputs) {
            return;
        }
        if (!outputs.IsMap()) {
            error(outputs.Mark(), "'outputs' must be a map of names to values");
            return;
        }
        std::set<std::string> every_step;
        for (const auto& step : workflow_.steps) {
            every_step.insert(step.id);
        }
        for (auto it = outputs.begin(); it != outputs.end(); ++it) {
            auto name = it->first.Scalar();
            workflow_.outputs[name] = convert(it->second, "outputs." + name, every_step);
        }
    }

    // A duration such as `500ms`, `2s`, `5m` or a number of seconds; 0 after an error.
    std::int64_t duration(const YAML::Node& node, const std::string& what) {
        auto text = string_value(node, what);
        if (!text) {
            return 0;
        }
        auto parsed = config::parse_duration_ms(*text);
        if (!parsed || *parsed <= 0) {
            error(node.Mark(),
                  what + " must be a duration such as 500ms, 2s or 5m, got '" + *text + "'");
            return 0;
        }
        return *parsed;
    }

    // A whole number of at least `min`; `min - 1` after an error.
    int count(const YAML::Node& node, const std::string& what, int min) {
        auto text = string_value(node, what);
        int value = 0;
        if (text) {
            auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
            if (ec == std::errc() && end == text->data() + text->size() && value >= min) {
                return value;
            }
        }
        error(node.Mark(), what + " must be a whole number of at least " + std::to_string(min));
        return min - 1;
    }

    void parse_concurrency(const YAML::Node& node) {
        if (!node.IsMap()) {
            error(node.Mark(), "'concurrency' must be a map");
            return;
        }
        check_keys(node, kConcurrencyKeys, "'concurrency'");
        auto& out = workflow_.concurrency;
        if (node["key"]) {
            out.key = convert(node["key"], "concurrency.key", {});
        }
        if (node["limit"]) {
            out.limit = std::max(count(node["limit"], "'concurrency.limit'", 1), 0);
        } else if (node["key"]) {
            out.limit = 1;
        }
        if (node["stale_guard"]) {
            out.stale_guard = convert(node["stale_guard"], "concurrency.stale_guard", {});
        }
    }

    void parse_retry(const YAML::Node& node, const std::string& label, RetryPolicy& out) {
        if (!node.IsMap()) {
            error(node.Mark(), label + ": 'retry' must be a map");
            return;
        }
        check_keys(node, kRetryKeys, label + ": retry");
        if (node["max_attempts"]) {
            out.max_attempts =
                std::max(count(node["max_attempts"], label + ": 'retry.max_attempts'", 1), 0);
        }
        if (node["initial_backoff"]) {
            out.initial_backoff_ms =
                duration(node["initial_backoff"], label + ": 'retry.initial_backoff'");
        }
        if (node["max_backoff"]) {
            out.max_backoff_ms = duration(node["max_backoff"], label + ": 'retry.max_backoff'");
        }
    }

    void parse_name(const YAML::Node& root) {
        const YAML::Node node = root["name"];
        if (!node) {
            error(root.Mark(), "missing required key 'name'");
            return;
        }
        auto name = string_value(node, "'name'");
        if (name && name->empty()) {
            error(node.Mark(), "'name' must not be empty");
        } else if (name) {
            workflow_.name = *name;
        }
    }

    void parse_trigger(const YAML::Node& root) {
        const YAML::Node on = root["on"];
        if (!on) {
            error(root.Mark(), "missing required key 'on'");
            return;
        }
        if (!on.IsMap()) {
            error(on.Mark(), "'on' must be a map");
            return;
        }
        workflow_.on.line = on.Mark().line + 1;
        check_keys(on, kTriggerKeys, "'on'");
        if (!on["source"]) {
            error(on.Mark(), "'on': missing required key 'source'");
        } else if (auto source = string_value(on["source"], "'on.source'")) {
            workflow_.on.source = *source;
            workflow_.on.source_at = position_of(on["source"].Mark());
        }
        parse_events(on["events"]);
        if (on["if"]) {
            workflow_.on.if_expr = if_expression(on["if"], "on.if", {});
        }
    }

    void parse_events(const YAML::Node& events) {
        if (!events) {
            return;
        }
        if (!events.IsSequence()) {
            error(events.Mark(), "'on.events' must be a list of strings");
            return;
        }
        for (const auto& event : events) {
            if (auto type = string_value(event, "each event in 'on.events'")) {
                workflow_.on.events.push_back(*type);
            }
        }
    }

    void parse_steps(const YAML::Node& root) {
        const YAML::Node steps = root["steps"];
        if (!steps) {
            error(root.Mark(), "missing required key 'steps'");
            return;
        }
        if (!steps.IsSequence() || steps.size() == 0) {
            error(steps.Mark(), "'steps' must be a non-empty list");
            return;
        }
        std::map<std::string, int> earlier;  // step id -> line
        for (std::size_t i = 0; i < steps.size(); ++i) {
            parse_step(steps[i], i, earlier);
        }
    }

    void parse_step(const YAML::Node& node,
                    std::size_t index,
                    std::map<std::string, int>& earlier) {
        if (!node.IsMap()) {
            error(node.Mark(), "step " + std::to_string(index + 1) + " must be a map");
            return;
        }
        Step step;
        step.line = node.Mark().line + 1;
        step.at = position_of(node.Mark());
        step.id = parse_step_id(node, index, earlier);
        auto label = step_label(step.id, index);
        check_keys(node, kStepKeys, label);
        parse_uses(node, label, step);
        std::set<std::string> known;
        for (const auto& [id, line] : earlier) {
            known.insert(id);
        }
        if (node["if"]) {
            step.if_expr = if_expression(node["if"], label + ": if", known);
        }
        if (node["with"] && !node["with"].IsNull()) {
            if (!node["with"].IsMap()) {
                error(node["with"].Mark(), label + ": 'with' must be a map");
            } else {
                step.with = convert(node["with"], label + ": with", known);
                for (auto it = node["with"].begin(); it != node["with"].end(); ++it) {
                    step.with_at[it->first.Scalar()] = position_of(it->first.Mark());
                }
            }
        }
        parse_step_options(node, label, known, step);
        if (node["retry"]) {
            parse_retry(node["retry"], label, step.retry);
        }
        if (node["timeout"]) {
            step.timeout_ms = duration(node["timeout"], label + ": 'timeout'");
        }
        if (!step.id.empty() && earlier.count(step.id) == 0) {
            earlier.emplace(step.id, step.line);
        }
        workflow_.steps.push_back(std::move(step));
    }

    void parse_step_options(const YAML::Node& node,
                            const std::string& label,
                            const std::set<std::string>& known,
                            Step& step) {
        if (node["continue_on_error"]) {
            auto value = convert(node["continue_on_error"], label + ": continue_on_error", {});
            if (!value.is_boolean()) {
                error(node["continue_on_error"].Mark(),
                      label + ": 'continue_on_error' must be true or false");
            } else {
                step.continue_on_error = value.get<bool>();
            }
        }
        if (node["for_each"]) {
            step.for_each = if_expression(node["for_each"], label + ": for_each", known);
        }
    }

    std::string parse_step_id(const YAML::Node& node,
                              std::size_t index,
                              const std::map<std::string, int>& earlier) {
        static const std::regex kId("[a-z0-9_-]+");
        if (!node["id"]) {
            error(node.Mark(), step_label("", index) + ": missing required key 'id'");
            return {};
        }
        auto id = string_value(node["id"], step_label("", index) + ": 'id'");
        if (!id) {
            return {};
        }
        if (!matches(*id, kId)) {
            error(node["id"].Mark(), "step id '" + *id + "' must use only a-z, 0-9, '_' and '-'");
            return {};
        }
        if (*id == kOutputsStepId) {
            error(node["id"].Mark(),
                  "step id '" + *id + "' is reserved for the workflow's outputs");
        }
        if (auto first = earlier.find(*id); first != earlier.end()) {
            error(node["id"].Mark(),
                  "duplicate step id '" + *id + "' (first at line " +
                      std::to_string(first->second) + ")");
        }
        return *id;
    }

    void parse_uses(const YAML::Node& node, const std::string& label, Step& step) {
        static const std::regex kUses("[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+");
        if (!node["uses"]) {
            error(node.Mark(), label + ": missing required key 'uses'");
            return;
        }
        auto uses = string_value(node["uses"], label + ": 'uses'");
        if (!uses) {
            return;
        }
        if (!matches(*uses, kUses)) {
            error(node["uses"].Mark(),
                  label + ": 'uses' must be connector.action, got '" + *uses + "'");
            return;
        }
        auto dot = uses->find('.');
        step.uses = *uses;
        step.uses_at = position_of(node["uses"].Mark());
        step.connector = uses->substr(0, dot);
        step.action = uses->substr(dot + 1);
    }

    // An `if` is one expression, written bare or inside one `${{ }}`; returns the inner text.
    std::string if_expression(const YAML::Node& node,
                              const std::string& where,
                              const std::set<std::string>& known) {
        auto text = string_value(node, where);
        if (!text) {
            return {};
        }
        auto parts = detail::split_template(*text);
        if (!parts) {
            error(node.Mark(), where + ": " + parts.error().log_text);
            return {};
        }
        std::vector<std::string> inner;
        bool stray_text = false;
        for (const auto& part : *parts) {
            if (part.is_expression) {
                inner.push_back(part.text);
            } else if (part.text.find_first_not_of(" \t\r\n") != std::string::npos) {
                stray_text = true;
            }
        }
        if (inner.size() > 1 || (inner.size() == 1 && stray_text)) {
            error(node.Mark(), where + ": must be one expression");
            return {};
        }
        auto expression = inner.empty() ? *text : inner[0];
        check_one(node.Mark(), where, expression, known);
        return expression;
    }

    void check_one(const YAML::Mark& mark,
                   const std::string& where,
                   const std::string& expression,
                   const std::set<std::string>& known) {
        auto steps = detail::referenced_members(expression, "steps");
        if (!steps) {
            error(mark, where + ": " + steps.error().log_text);
            return;
        }
        for (const auto& id : *steps) {
            if (known.count(id) != 0) {
                continue;
            }
            if (all_steps_.count(id) != 0 && where.rfind("env.", 0) != 0) {
                error(
                    mark,
                    where + ": 'steps." + id + "' is a later step; only earlier steps can be read");
            } else if (all_steps_.count(id) != 0) {
                error(mark,
                      where + ": 'steps." + id +
                          "' cannot be read in env (env is rendered before any step)");
            } else {
                std::vector<std::string> ids(all_steps_.begin(), all_steps_.end());
                error(mark,
                      where + ": 'steps." + id + "' is not a step of this workflow" +
                          suggestion(id, ids));
            }
        }
        if (auto secrets = detail::referenced_members(expression, "secrets")) {
            for (auto& name : *secrets) {
                workflow_.secrets_used.push_back(NameUse{std::move(name), position_of(mark)});
            }
        }
    }

    void check_template(const YAML::Node& node,
                        const std::string& where,
                        const std::set<std::string>& known) {
        auto parts = detail::split_template(node.Scalar());
        if (!parts) {
            error(node.Mark(), where + ": " + parts.error().log_text);
            return;
        }
        for (const auto& part : *parts) {
            if (part.is_expression) {
                check_one(node.Mark(), where, part.text, known);
            }
        }
    }

    // YAML to JSON, checking the expressions of every string on the way.
    json convert(const YAML::Node& node,
                 const std::string& where,
                 const std::set<std::string>& known) {
        if (node.IsMap()) {
            json out = json::object();
            for (auto it = node.begin(); it != node.end(); ++it) {
                auto key = it->first.Scalar();
                out[key] = convert(it->second, where + "." + key, known);
            }
            return out;
        }
        if (node.IsSequence()) {
            json out = json::array();
            for (std::size_t i = 0; i < node.size(); ++i) {
                out.push_back(convert(node[i], where + "[" + std::to_string(i) + "]", known));
            }
            return out;
        }
        if (!node.IsScalar()) {
            return nullptr;
        }
        // Quoted and block scalars carry the tag "!"; only plain ones may be typed.
        auto value = node.Tag() == "!" ? json(node.Scalar()) : plain_scalar(node.Scalar());
        if (value.is_string()) {
            check_template(node, where, known);
        }
        return value;
    }

    const std::string& text_;
    const std::string& file_;
    std::vector<LoadError> errors_;
    Workflow workflow_;
    std::set<std::string> all_steps_;
};

// `*` matches any run of characters, dots included: `invoice.*`, `*.failed`, `*`.
bool pattern_matches(std::string_view pattern, std::string_view type) {
    auto star = pattern.find('*');
    if (star == std::string_view::npos) {
        return pattern == type;
    }
    if (type.substr(0, star) != pattern.substr(0, star)) {
        return false;
    }
    auto rest = pattern.substr(star + 1);
    for (auto from = star; from <= type.size(); ++from) {
        if (pattern_matches(rest, type.substr(from))) {
            return true;
        }
    }
    return false;
}

int name_line(const std::string& text) {
    try {
        auto root = YAML::Load(text);
        if (root.IsMap() && root["name"]) {
            return root["name"].Mark().line + 1;
        }
    } catch (const YAML::Exception&) {
        // The text parsed once already; fall through to line 1.
    }
    return 1;
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

std::string LoadError::to_string() const {
    if (line <= 0) {
        return file + ": " + message;
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
}

// Limitation: YAML aliases are expanded without a bound; a file of nested aliases can use
// gigabytes while loading (workflow files are operator input).
ParseOutcome parse_workflow(const std::string& text, const std::string& file) {
    return WorkflowParser(text, file).run();
}

LoadOutcome load_workflows(const std::filesystem::path& dir) {
    LoadOutcome outcome;
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        outcome.errors.push_back({dir.string(), 0, 0, "workflows folder not found"});
        return outcome;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        auto ext = entry.path().extension();
        if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    std::map<std::string, std::string> names;  // workflow name -> file
    for (const auto& path : files) {
        auto text = read_file(path);
        if (!text) {
            outcome.errors.push_back({path.string(), 0, 0, "cannot read file"});
            continue;
        }
        auto parsed = parse_workflow(*text, path.string());
        outcome.errors.insert(outcome.errors.end(), parsed.errors.begin(), parsed.errors.end());
        if (!parsed.workflow) {
            continue;
        }
        auto [first, inserted] = names.emplace(parsed.workflow->name, path.string());
        if (!inserted) {
            outcome.errors.push_back({path.string(),
                                      name_line(*text),
                                      1,
                                      "duplicate workflow name '" + parsed.workflow->name +
                                          "' (also in " + first->second + ")"});
            continue;
        }
        outcome.workflows.push_back(parsed.workflow);
    }
    return outcome;
}

std::vector<LoadError> check_references(
    const Workflow& workflow,
    const std::vector<std::string>& sources,
    const std::function<bool(const std::string& connector, const std::string& action)>&
        action_exists,
    const std::function<bool(const std::string& connector)>& connector_exists,
    const std::function<std::string(const std::string& connector)>& type_of) {
    std::vector<LoadError> errors;
    if (std::find(sources.begin(), sources.end(), workflow.on.source) == sources.end()) {
        auto at = workflow.on.source_at;
        errors.push_back({workflow.file,
                          at.line > 0 ? at.line : workflow.on.line,
                          std::max(at.col, 1),
                          "unknown source '" + workflow.on.source + "'" +
                              suggestion(workflow.on.source, sources)});
    }
    for (const auto& step : workflow.steps) {
        auto label = "step '" + step.id + "': ";
        auto line = step.uses_at.line > 0 ? step.uses_at.line : step.line;
        auto col = std::max(step.uses_at.col, 1);
        if (!connector_exists(step.connector)) {
            errors.push_back(
                {workflow.file, line, col, label + "unknown connector '" + step.connector + "'"});
        } else if (!action_exists(step.connector, step.action)) {
            errors.push_back(
                {workflow.file,
                 line,
                 col,
                 label + "connector '" + step.connector + "' has no action '" + step.action + "'" +
                     (type_of
                          ? connectors::missing_action_hint(type_of(step.connector), step.action)
                          : "")});
        }
    }
    return errors;
}

namespace {

std::vector<std::string> field_names(const connectors::ActionSpec& spec) {
    std::vector<std::string> names(spec.required.begin(), spec.required.end());
    names.insert(names.end(), spec.optional.begin(), spec.optional.end());
    return names;
}

void check_step_fields(const Workflow& workflow,
                       const Step& step,
                       const connectors::ActionSpec& spec,
                       std::vector<LoadError>& errors) {
    auto label = "step '" + step.id + "': ";
    auto names = field_names(spec);
    for (const auto& [field, at] : step.with_at) {
        if (std::find(names.begin(), names.end(), field) == names.end()) {
            errors.push_back({workflow.file,
                              at.line,
                              at.col,
                              label + "unknown field 'with." + field + "' for " + step.uses +
                                  suggestion(field, names)});
        }
    }
    for (auto field : spec.required) {
        if (!step.with.contains(std::string(field))) {
            errors.push_back({workflow.file,
                              step.uses_at.line,
                              std::max(step.uses_at.col, 1),
                              label + step.uses + " needs 'with." + std::string(field) + "'"});
        }
    }
}

}  // namespace

// Limitation: the checks below need a parsed workflow, so a file with syntax or structure
// errors shows those first and its names and fields only once they are fixed.
std::vector<LoadError> check_actions(
    const Workflow& workflow, const std::function<std::string(const std::string&)>& type_of) {
    std::vector<LoadError> errors;
    for (const auto& step : workflow.steps) {
        const auto* spec = connectors::find_action_spec(type_of(step.connector), step.action);
        if (spec != nullptr) {
            check_step_fields(workflow, step, *spec, errors);
        }
    }
    return errors;
}

std::vector<LoadError> check_secrets(const Workflow& workflow,
                                     const std::vector<std::string>& secrets) {
    std::vector<LoadError> errors;
    for (const auto& use : workflow.secrets_used) {
        if (std::find(secrets.begin(), secrets.end(), use.name) == secrets.end()) {
            errors.push_back({workflow.file,
                              use.at.line,
                              use.at.col,
                              "unknown secret '" + use.name + "' (not in the config's secrets)" +
                                  suggestion(use.name, secrets)});
        }
    }
    return errors;
}

bool trigger_matches(const Trigger& trigger, const std::string& source, const std::string& type) {
    if (trigger.source != source) {
        return false;
    }
    if (trigger.events.empty()) {
        return true;
    }
    return std::any_of(trigger.events.begin(), trigger.events.end(), [&](const std::string& p) {
        return pattern_matches(p, type);
    });
}

}  // namespace hookflow::engine
