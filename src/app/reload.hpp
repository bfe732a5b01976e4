#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include <hookflow/config/config.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/engine/engine.hpp>

namespace hookflow::app {

/// Watches `workflows.dir` (every `interval`, and at once on SIGHUP) and, when its workflow
/// files change, loads and checks them all as at start-up: a valid set replaces the active one
/// through `apply`; errors are logged and the active set stays.
class WorkflowReloader {
  public:
    using Apply = std::function<void(std::shared_ptr<const engine::WorkflowSet>)>;

    /// `connectors` must outlive the reloader.
    WorkflowReloader(boost::asio::any_io_executor executor,
                     config::Config config,
                     const connectors::Registry& connectors,
                     Apply apply,
                     std::chrono::milliseconds interval = std::chrono::milliseconds(500));
    ~WorkflowReloader();

    /// Starts watching; `active` is the set loaded at start-up.
    void start(std::shared_ptr<const engine::WorkflowSet> active);

    /// Stops the timer and the SIGHUP handler.
    void stop();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace hookflow::app
