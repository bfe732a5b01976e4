#include "app/workflows.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include <hookflow/engine/engine.hpp>

namespace hookflow::app {

namespace {

void load_file(const std::filesystem::path& file, engine::LoadOutcome& outcome) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        outcome.errors.push_back({file.string(), 1, 1, "cannot read the file"});
        return;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = engine::parse_workflow(text.str(), file.string());
    outcome.errors.insert(outcome.errors.end(), parsed.errors.begin(), parsed.errors.end());
    if (parsed.workflow) {
        outcome.workflows.push_back(parsed.workflow);
    }
}

engine::LoadOutcome load_paths(const config::Config& config,
                               const std::vector<std::string>& paths) {
    if (paths.empty()) {
        return engine::load_workflows(config.workflows.dir);
    }
    engine::LoadOutcome outcome;
    for (const auto& path : paths) {
        if (std::filesystem::is_directory(path)) {
            auto loaded = engine::load_workflows(path);
            outcome.workflows.insert(
                outcome.workflows.end(), loaded.workflows.begin(), loaded.workflows.end());
            outcome.errors.insert(outcome.errors.end(), loaded.errors.begin(), loaded.errors.end());
        } else {
            load_file(path, outcome);
        }
    }
    return outcome;
}

}  // namespace

engine::LoadOutcome load_checked_workflows(const config::Config& config,
                                           const connectors::Registry& connectors,
                                           const std::vector<std::string>& paths) {
    auto outcome = load_paths(config, paths);
    std::vector<std::string> sources;
    for (const auto& [name, source] : config.sources) {
        sources.push_back(name);
    }
    auto action_exists = [&connectors](const std::string& connector, const std::string& action) {
        auto* found = connectors.find(connector);
        return found != nullptr && found->has_action(action);
    };
    auto connector_exists = [&connectors](const std::string& connector) {
        return connectors.find(connector) != nullptr;
    };
    std::map<std::string, std::string> files_by_name;
    for (const auto& workflow : outcome.workflows) {
        auto [seen, fresh] = files_by_name.emplace(workflow->name, workflow->file);
        if (!fresh && seen->second != workflow->file) {
            outcome.errors.push_back(
                {workflow->file,
                 1,
                 1,
                 "workflow name '" + workflow->name + "' is also used by " + seen->second});
        }
    }
    std::vector<std::string> secrets;
    for (const auto& [name, secret] : config.secrets) {
        secrets.push_back(name);
    }
    auto types = engine::run_settings(config).connector_types;
    auto type_of = [&types, &connectors](const std::string& connector) -> std::string {
        auto found = types.find(connector);
        if (found != types.end()) {
            return found->second;
        }
        return connectors.find(connector) != nullptr ? connector : "";
    };
    for (const auto& workflow : outcome.workflows) {
        auto errors =
            engine::check_references(*workflow, sources, action_exists, connector_exists, type_of);
        auto fields = engine::check_actions(*workflow, type_of);
        auto unknown = engine::check_secrets(*workflow, secrets);
        for (const auto* more : {&fields, &unknown}) {
            errors.insert(errors.end(), more->begin(), more->end());
        }
        outcome.errors.insert(outcome.errors.end(), errors.begin(), errors.end());
    }
    // One file's errors together, in the order they appear in it.
    std::stable_sort(outcome.errors.begin(),
                     outcome.errors.end(),
                     [](const engine::LoadError& a, const engine::LoadError& b) {
                         return std::tie(a.file, a.line, a.col) < std::tie(b.file, b.line, b.col);
                     });
    return outcome;
}

}  // namespace hookflow::app
