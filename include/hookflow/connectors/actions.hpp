#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hookflow::connectors {

/// The `with` fields one connector action reads, declared once: validation checks workflows
/// against it and the docs list it.
struct ActionSpec {
    std::string_view type;    // the connector type: stripe, crm, llm, sendgrid, slack, http
    std::string_view action;  // after the dot in `uses:`
    std::vector<std::string_view> required;  // must be present and render to a non-empty value
    std::vector<std::string_view> optional;
    std::string_view flavor = {};  // the `flavor:` the connector needs for it; empty for any
};

/// Every action spec, in table order.
const std::vector<ActionSpec>& action_specs();

/// The spec of `type.action`, or null when the table has none.
const ActionSpec* find_action_spec(std::string_view type, std::string_view action);

/// A hint to append to "has no action" when the action needs a connector flavour, such as
/// " (find_contact needs flavor: hubspot on the connector)"; empty when there is none.
std::string missing_action_hint(std::string_view type, std::string_view action);

}  // namespace hookflow::connectors
