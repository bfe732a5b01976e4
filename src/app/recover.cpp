#include <filesystem>
#include <future>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include "app/workflows.hpp"
#include <hookflow/common/clock.hpp>
#include <hookflow/engine/engine.hpp>
#include <hookflow/store/sqlite_store.hpp>

namespace hookflow::app {

std::unique_ptr<store::Store> open_existing_store(const config::Config& config) {
    // Reading must not create a database where the server never ran.
    if (!std::filesystem::exists(config.storage.sqlite)) {
        std::cerr << "no database at " << config.storage.sqlite
                  << " (storage.sqlite; has the server run with this config?)\n";
        return nullptr;
    }
    auto opened = store::open_sqlite(
        store::SqliteOptions{config.storage.sqlite, config.storage.busy_timeout_ms, 256},
        SystemClock::instance());
    if (!opened) {
        std::cerr << opened.error().log_text << "\n";
        return nullptr;
    }
    return std::move(opened).value();
}

namespace {

// The CLI waits for the writer thread's answer; the server never blocks like this.
template <class T, class Start>
Result<T> wait_for(Start start) {
    std::promise<Result<T>> promise;
    auto future = promise.get_future();
    start([&promise](Result<T> result) { promise.set_value(std::move(result)); });
    return future.get();
}

}  // namespace

int dead_list(const std::string& config_path, int limit, bool as_json) {
    auto config = load_or_report(config_path);
    auto store = config ? open_existing_store(*config) : nullptr;
    if (!store) {
        return 1;
    }
    return print_runs(store->runs_with_status("dead", limit), as_json);
}

int dead_retry(const std::string& config_path, const std::string& run_id) {
    auto config = load_or_report(config_path);
    auto store = config ? open_existing_store(*config) : nullptr;
    if (!store) {
        return 1;
    }
    if (!store->get_run(run_id)) {
        std::cerr << "no run " << run_id << "\n";
        return 1;
    }

    auto queued = wait_for<bool>([&](auto done) { store->retry_run(run_id, std::move(done)); });
    if (!queued) {
        std::cerr << queued.error().log_text << "\n";
        return 1;
    }
    if (!*queued) {
        // Read the status after the refusal: it is the one that made retry_run say no.
        auto run = store->get_run(run_id);
        std::cerr << "run " << run_id << " is " << (run ? run->status : "gone")
                  << "; only dead or failed runs can be retried\n";
        return 1;
    }
    std::cout << "run " << run_id << " queued; it resumes after its last succeeded step\n";
    return 0;
}

int replay(const std::string& config_path, const std::string& event_id) {
    auto config = load_or_report(config_path);
    auto store = config ? open_existing_store(*config) : nullptr;
    if (!store) {
        return 1;
    }
    auto event = store->get_event(event_id);
    if (!event) {
        std::cerr << "no event " << event_id << "\n";
        return 1;
    }

    // Match the event against the workflows as they are now.
    boost::asio::io_context io;
    connectors::RestClient client(io.get_executor());
    auto registry = connectors::Registry::build(*config, client);
    if (!registry) {
        std::cerr << registry.error().log_text << "\n";
        return 1;
    }
    auto loaded = load_checked_workflows(*config, **registry, {});
    for (const auto& error : loaded.errors) {
        std::cerr << error.to_string() << "\n";
    }
    if (!loaded.errors.empty()) {
        return 1;
    }
    engine::WorkflowSet workflows(loaded.workflows);
    nlohmann::json context = {{"event", engine::event_context(*event)},
                              {"delivery", engine::delivery_context(*event)}};
    auto runs = workflows.match(event->source, event->type, context);
    if (runs.empty()) {
        std::cerr << "no workflow matches event " << event_id << " (" << event->type << ")\n";
        return 1;
    }

    auto ids = wait_for<std::vector<std::string>>(
        [&](auto done) { store->add_runs(event_id, std::move(runs), std::move(done)); });
    if (!ids) {
        std::cerr << ids.error().log_text << "\n";
        return 1;
    }
    for (const auto& id : *ids) {
        std::cout << "run " << id << " queued for event " << event_id << "\n";
    }
    return 0;
}

}  // namespace hookflow::app
