#pragma once

#include <string>
#include <vector>

#include <hookflow/config/config.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/engine/workflow.hpp>

namespace hookflow::app {

/// Loads workflows from `paths` (files or folders; empty: the config's workflows.dir) and
/// checks what they name against the config's sources and the connectors.
engine::LoadOutcome load_checked_workflows(const config::Config& config,
                                           const connectors::Registry& connectors,
                                           const std::vector<std::string>& paths);

}  // namespace hookflow::app
