#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/asio/io_context.hpp>

#include "app/commands.hpp"
#include "app/workflows.hpp"
#include <hookflow/common/clock.hpp>
#include <hookflow/http/server.hpp>
#include <hookflow/ingest/ingest.hpp>
#include <hookflow/verify/verifier.hpp>

namespace hookflow::app {

std::optional<config::Config> load_or_report(const std::string& path) {
    auto config = config::load_config(path, config::process_env());
    if (!config) {
        std::cerr << config.error().log_text << "\n";
        return std::nullopt;
    }
    return std::move(config).value();
}

namespace {

std::string summary(const engine::Workflow& workflow) {
    std::string events;
    for (const auto& event : workflow.on.events) {
        events += (events.empty() ? "" : ", ") + event;
    }
    std::string actions;
    for (const auto& step : workflow.steps) {
        actions += (actions.empty() ? "" : ", ") + step.uses;
    }
    auto count = workflow.steps.size();
    return workflow.name + ": on " + workflow.on.source + " [" + (events.empty() ? "*" : events) +
           "], " + std::to_string(count) + (count == 1 ? " step (" : " steps (") + actions + ")";
}

}  // namespace

int validate(const std::string& config_path, const std::vector<std::string>& paths) {
    auto config = load_or_report(config_path);
    if (!config) {
        return 1;
    }
    boost::asio::io_context io;
    connectors::RestClient client(io.get_executor());
    auto registry = connectors::Registry::build(*config, client);
    if (!registry) {
        std::cerr << registry.error().log_text << "\n";
        return 1;
    }
    int errors = 0;
    if (auto sources = ingest::build_sources(*config); !sources) {
        std::cerr << config_path << ": " << sources.error().log_text << "\n";
        ++errors;
    }
    // The same check as the listener makes at start-up: PEM contents and key/cert match.
    if (!config->server.tls_cert.empty()) {
        if (auto tls = http::check_tls_files(config->server.tls_cert, config->server.tls_key);
            !tls) {
            std::cerr << config_path << ": " << tls.error().log_text << "\n";
            ++errors;
        }
    }
    auto outcome = load_checked_workflows(*config, **registry, paths);
    for (const auto& error : outcome.errors) {
        std::cerr << error.to_string() << "\n";
    }
    if (!outcome.errors.empty() || errors > 0) {
        return 1;
    }
    for (const auto& workflow : outcome.workflows) {
        std::cout << summary(*workflow) << "\n";
    }
    return 0;
}

std::optional<SignedFile> sign_file(const std::string& config_path,
                                    const std::string& source,
                                    const std::string& file) {
    auto config = load_or_report(config_path);
    if (!config) {
        return std::nullopt;
    }
    auto found = config->sources.find(source);
    if (found == config->sources.end()) {
        std::cerr << "no source named '" << source << "' in " << config_path << "\n";
        return std::nullopt;
    }
    auto verifier = verify::make_verifier(found->second);
    if (!verifier) {
        std::cerr << verifier.error().log_text << "\n";
        return std::nullopt;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::cerr << file << ": cannot read the file\n";
        return std::nullopt;
    }
    std::stringstream body;
    body << in.rdbuf();
    auto headers = (*verifier)->sign(body.str(), SystemClock::instance().now_unix());
    if (!headers) {
        std::cerr << "source " << source << ": " << headers.error().log_text << "\n";
        return std::nullopt;
    }
    return SignedFile{std::move(*config), body.str(), std::move(*headers)};
}

int sign(const std::string& config_path, const std::string& source, const std::string& file) {
    auto signed_file = sign_file(config_path, source, file);
    if (!signed_file) {
        return 1;
    }
    for (const auto& [name, value] : signed_file->headers) {
        std::cout << name << ": " << value << "\n";
    }
    return 0;
}

}  // namespace hookflow::app
