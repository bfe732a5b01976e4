// The table of connector actions and their `with` fields. Each connector's source reads
// these fields; keep a row here in step with it (validation reports any other field as
// unknown). A field needed only in some forms of a call (`prompt` or `messages`, `text` or
// `html` or `template_id`) is optional here and checked by the connector itself.

#include <hookflow/connectors/actions.hpp>

namespace hookflow::connectors {

const std::vector<ActionSpec>& action_specs() {
    static const std::vector<ActionSpec> kSpecs = {
        {"stripe",
         "request",
         {"path"},
         {"method", "query", "body", "account", "paginate", "max_items", "max_pages"}},
        {"crm", "request", {"path"}, {"method", "query", "json"}},
        {"crm", "find_contact", {"email"}, {"properties"}, "hubspot"},
        {"crm", "update_contact", {"id", "properties"}, {}, "hubspot"},
        {"llm",
         "chat",
         {},
         {"model", "system", "prompt", "messages", "temperature", "max_tokens", "json"}},
        {"sendgrid",
         "send",
         {"to", "from"},
         {"subject",
          "text",
          "html",
          "template_id",
          "dynamic_template_data",
          "reply_to",
          "cc",
          "bcc",
          "categories"}},
        // `channel` is required unless a webhook URL is used (checked by the connector).
        {"slack", "post", {}, {"channel", "text", "blocks", "webhook_url"}},
        {"http",
         "request",
         {"url"},
         {"method", "headers", "query", "json", "form", "expect_status"}},
    };
    return kSpecs;
}

const ActionSpec* find_action_spec(std::string_view type, std::string_view action) {
    for (const auto& spec : action_specs()) {
        if (spec.type == type && spec.action == action) {
            return &spec;
        }
    }
    return nullptr;
}

std::string missing_action_hint(std::string_view type, std::string_view action) {
    const auto* spec = find_action_spec(type, action);
    if (spec == nullptr || spec->flavor.empty()) {
        return "";
    }
    return " (" + std::string(action) + " needs flavor: " + std::string(spec->flavor) +
           " on the connector)";
}

}  // namespace hookflow::connectors
