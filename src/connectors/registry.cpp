#include <functional>

#include "connector_base.hpp"

namespace hookflow::connectors {

namespace {

using Factory = std::unique_ptr<Connector> (*)(config::ConnectorConfig, RestClient&);

Factory factory_for(std::string_view type) {
    static constexpr std::pair<std::string_view, Factory> kKinds[] = {
        {"stripe", &make_stripe},
        {"crm", &make_crm},
        {"llm", &make_llm},
        {"sendgrid", &make_sendgrid},
        {"slack", &make_slack},
        {"http", &make_http},
    };
    for (const auto& [name, factory] : kKinds) {
        if (name == type) {
            return factory;
        }
    }
    return nullptr;
}

}  // namespace

Result<std::unique_ptr<Registry>> Registry::build(const config::Config& config,
                                                  RestClient& client) {
    auto registry = std::make_unique<Registry>();
    for (const auto& [name, block] : config.connectors) {
        auto settings = block;
        settings.name = name;
        if (settings.type.empty()) {
            settings.type = name;
        }
        if (auto checked = read_connector_settings(settings); !checked) {
            return checked.error();
        }
        auto factory = factory_for(settings.type);
        if (!factory) {
            return make_error(Errc::invalid_config,
                              "connector " + name + ": unknown type " + settings.type);
        }
        registry->add(factory(std::move(settings), client));
    }
    // Plain HTTP calls need no credentials, so `http` exists even without a config block.
    if (!registry->find("http")) {
        config::ConnectorConfig http;
        http.name = "http";
        http.type = "http";
        registry->add(make_http(std::move(http), client));
    }
    return registry;
}

Connector* Registry::find(std::string_view name) const {
    auto it = connectors_.find(name);
    return it == connectors_.end() ? nullptr : it->second.get();
}

std::vector<std::string> Registry::names() const {
    std::vector<std::string> out;
    out.reserve(connectors_.size());
    for (const auto& entry : connectors_) {
        out.push_back(entry.first);
    }
    return out;
}

}  // namespace hookflow::connectors
