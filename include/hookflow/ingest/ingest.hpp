#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <hookflow/common/clock.hpp>
#include <hookflow/config/config.hpp>
#include <hookflow/engine/engine.hpp>
#include <hookflow/http/server.hpp>
#include <hookflow/store/store.hpp>
#include <hookflow/verify/verifier.hpp>

namespace hookflow::ingest {

/// A configured source with the verifier of its provider.
struct Source {
    config::SourceConfig config;
    std::unique_ptr<verify::Verifier> verifier;
};

/// Builds every source's verifier; logs a warning for each source that has no secret.
/// Errc::invalid_config for an unknown provider.
Result<std::map<std::string, Source>> build_sources(const config::Config& config);

/// The `POST /hooks/{source}` endpoint: verify, extract, enqueue, then answer.
class Ingest {
  public:
    Ingest(std::map<std::string, Source> sources,
           store::Store& store,
           const Clock& clock,
           std::function<void()> on_enqueued);

    /// Replaces the workflows that new deliveries are matched against.
    void set_workflows(std::shared_ptr<const engine::WorkflowSet> workflows);

    /// Logs a request the listener refused before it reached `handle` (body too large, ...).
    void log_refused(std::string_view target, const Error& error) const;

    /// Handles one request to /hooks/...
    boost::asio::awaitable<http::Response> handle(http::Exchange& exchange);

    /// The workflows new deliveries are matched against now (admin replay matches with them).
    std::shared_ptr<const engine::WorkflowSet> workflows() const;

  private:
    std::map<std::string, Source> sources_;
    store::Store& store_;
    const Clock& clock_;
    std::function<void()> on_enqueued_;
    mutable std::mutex workflows_mutex_;
    std::shared_ptr<const engine::WorkflowSet> workflows_;
};

}  // namespace hookflow::ingest
