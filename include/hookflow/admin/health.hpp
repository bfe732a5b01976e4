#pragma once

#include <atomic>
#include <functional>

#include <hookflow/http/server.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::admin {

/// `/healthz` (the process serves) and `/readyz` (the store takes writes and workflows loaded).
class Health {
  public:
    explicit Health(store::Store& store) : store_(store) {}

    /// Marks whether the workflows are loaded (readyz answers 503 until then).
    void set_workflows_loaded(bool loaded) { workflows_loaded_ = loaded; }

    /// Marks the server as shutting down (readyz answers 503 from then on).
    void set_stopping() { stopping_ = true; }

    boost::asio::awaitable<http::Response> healthz(http::Exchange& exchange);
    boost::asio::awaitable<http::Response> readyz(http::Exchange& exchange);

  private:
    store::Store& store_;
    std::atomic<bool> workflows_loaded_{false};
    std::atomic<bool> stopping_{false};
};

}  // namespace hookflow::admin
