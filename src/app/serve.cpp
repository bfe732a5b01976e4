#include <csignal>
#include <iostream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "app/commands.hpp"
#include "app/reload.hpp"
#include "app/retention.hpp"
#include "app/workflows.hpp"
#include <hookflow/admin/api.hpp>
#include <hookflow/admin/health.hpp>
#include <hookflow/common/log.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/engine/engine.hpp>
#include <hookflow/http/router.hpp>
#include <hookflow/ingest/ingest.hpp>
#include <hookflow/store/sqlite_store.hpp>

namespace hookflow::app {

namespace asio = boost::asio;

namespace {

http::ServerOptions server_options(const config::ServerConfig& server) {
    http::ServerOptions options;
    options.host = server.host;
    options.port = server.port;
    options.max_body_bytes = server.max_body_bytes;
    options.header_timeout = std::chrono::seconds(server.header_timeout_seconds);
    options.idle_timeout = std::chrono::seconds(server.idle_timeout_seconds);
    options.tls_cert = server.tls_cert;
    options.tls_key = server.tls_key;
    // Each entry was checked when the config was read, with its line and column.
    if (auto trusted = http::TrustedProxies::parse(server.trusted_proxies)) {
        options.trusted_proxies = std::move(trusted).value();
    }
    return options;
}

int thread_count(const config::ServerConfig& server) {
    if (server.threads > 0) {
        return server.threads;
    }
    return std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
}

/// Everything the running server is made of, built in dependency order.
struct Services {
    asio::io_context io;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<connectors::RestClient> client;
    std::unique_ptr<connectors::Registry> connectors;
    std::unique_ptr<engine::Engine> engine;
    std::unique_ptr<ingest::Ingest> ingest;
    std::unique_ptr<admin::Health> health;
    http::Router router;
    std::unique_ptr<http::Server> server;
    std::unique_ptr<WorkflowReloader> reloader;
    std::unique_ptr<admin::Api> api;
    http::Router admin_router;                   // used when admin.listen is set
    std::unique_ptr<http::Server> admin_server;  // admin.listen's listener, if any
    std::shared_ptr<Retention> retention;        // storage.retention_days > 0

    explicit Services(int threads) : io(threads) {}
};

void add_routes(Services& s) {
    s.router.prefix("/hooks/", [&s](http::Exchange& e) { return s.ingest->handle(e); });
    s.router.exact("/healthz", [&s](http::Exchange& e) { return s.health->healthz(e); });
    s.router.exact("/readyz", [&s](http::Exchange& e) { return s.health->readyz(e); });
}

// /api/ and /metrics go to the admin listener when there is one, else to the main one.
void add_admin_routes(Services& s, const config::Config& config) {
    admin::ApiOptions options;
    options.token = config.admin.token.is_set() ? config.admin.token.value : std::string();
    options.match = [&s](const store::EventRow& event) {
        nlohmann::json context = {{"event", engine::event_context(event)},
                                  {"delivery", engine::delivery_context(event)}};
        return s.ingest->workflows()->match(event.source, event.type, context);
    };
    options.wake = [&s] { s.engine->wake(); };
    s.api = std::make_unique<admin::Api>(*s.store, std::move(options));
    if (!s.api->enabled()) {
        spdlog::info("admin api is off; set admin.token to turn it on");
    }
    auto& router = config.admin.listen_host.empty() ? s.router : s.admin_router;
    router.prefix("/api/", [&s](http::Exchange& e) { return s.api->handle(e); });
    router.exact("/metrics", [&s](http::Exchange& e) { return s.api->metrics(e); });
    if (&router == &s.admin_router) {
        router.exact("/healthz", [&s](http::Exchange& e) { return s.health->healthz(e); });
        router.exact("/readyz", [&s](http::Exchange& e) { return s.health->readyz(e); });
    }
}

// Starts admin.listen's listener (same options as the main one but its address); false when
// it cannot bind.
bool start_admin_listener(Services& s, const config::Config& config) {
    if (config.admin.listen_host.empty()) {
        return true;
    }
    auto options = server_options(config.server);
    options.host = config.admin.listen_host;
    options.port = config.admin.listen_port;
    s.admin_server = std::make_unique<http::Server>(
        s.io.get_executor(), std::move(options), [&s](http::Exchange& e) {
            return s.admin_router.dispatch(e);
        });
    if (auto started = s.admin_server->start(); !started) {
        spdlog::error("cannot start the admin listener {}",
                      logf::field(logf::kErr, started.error().log_text));
        return false;
    }
    spdlog::info(
        "admin listening {}",
        logf::field("address",
                    config.admin.listen_host + ":" + std::to_string(s.admin_server->port())));
    return true;
}

// Lets runs in flight finish within `engine.shutdown_grace`, then releases the leases of
// those left (the next start resumes them at once) and stops the loop.
void shut_down(Services& s,
               std::shared_ptr<asio::steady_timer> timer,
               std::int64_t waited_ms,
               std::int64_t grace_ms) {
    if (s.engine->in_flight() == 0) {
        s.io.stop();
        return;
    }
    if (waited_ms >= grace_ms) {
        spdlog::warn("runs still in flight at shutdown; releasing their leases {}",
                     logf::field(logf::kRuns, s.engine->in_flight()));
        s.engine->release_all([&s](int) { s.io.stop(); });
        return;
    }
    timer->expires_after(std::chrono::milliseconds(100));
    timer->async_wait([&s, timer, waited_ms, grace_ms](boost::system::error_code) {
        shut_down(s, timer, waited_ms + 100, grace_ms);
    });
}

}  // namespace

int serve(const std::string& config_path) {
    auto config = load_or_report(config_path);
    if (!config) {
        return 2;
    }
    try {
        setup_logging(LogOptions{config->log.level,
                                 config->log.format,
                                 config->log.file,
                                 config->log.max_size_bytes,
                                 config->log.max_files});
    } catch (const std::exception& e) {
        std::cerr << config_path << ": " << e.what() << "\n";
        return 2;
    }

    // Check everything that can be wrong with the files before touching the database.
    auto sources = ingest::build_sources(*config);
    if (!sources) {
        std::cerr << config_path << ": " << sources.error().log_text << "\n";
        return 2;
    }
    int threads = thread_count(config->server);
    Services s(threads);
    auto store = store::open_sqlite(
        store::SqliteOptions{config->storage.sqlite, config->storage.busy_timeout_ms, 256},
        SystemClock::instance());
    if (!store) {
        spdlog::error("cannot open the store {}", logf::field(logf::kErr, store.error().log_text));
        return 1;
    }
    s.store = std::move(store).value();
    s.client = std::make_unique<connectors::RestClient>(s.io.get_executor());
    auto registry = connectors::Registry::build(*config, *s.client);
    if (!registry) {
        std::cerr << registry.error().log_text << "\n";
        return 2;
    }
    s.connectors = std::move(registry).value();

    auto workflows = load_checked_workflows(*config, *s.connectors, {});
    if (!workflows.errors.empty()) {
        for (const auto& error : workflows.errors) {
            std::cerr << error.to_string() << "\n";
        }
        spdlog::error("workflows have errors; not starting {}",
                      logf::field("errors", static_cast<long long>(workflows.errors.size())));
        return 1;
    }

    s.engine = std::make_unique<engine::Engine>(
        s.io.get_executor(), *s.store, *s.connectors, config->engine, SystemClock::instance());
    s.engine->configure(engine::run_settings(*config));
    s.ingest = std::make_unique<ingest::Ingest>(
        std::move(sources).value(), *s.store, SystemClock::instance(), [&s] { s.engine->wake(); });
    auto active = std::make_shared<const engine::WorkflowSet>(workflows.workflows);
    s.ingest->set_workflows(active);
    // Created before the server answers, so a SIGHUP from then on reloads instead of killing.
    s.reloader = std::make_unique<WorkflowReloader>(
        s.io.get_executor(), *config, *s.connectors, [&s](auto set) {
            s.ingest->set_workflows(std::move(set));
        });
    s.reloader->start(std::move(active));
    s.health = std::make_unique<admin::Health>(*s.store);
    s.health->set_workflows_loaded(true);
    add_routes(s);
    add_admin_routes(s, *config);
    auto options = server_options(config->server);
    options.on_refused = [&s](std::string_view target, const Error& error) {
        s.ingest->log_refused(target, error);
    };
    s.server = std::make_unique<http::Server>(
        s.io.get_executor(), std::move(options), [&s](http::Exchange& e) {
            return s.router.dispatch(e);
        });
    if (auto started = s.server->start(); !started) {
        spdlog::error("cannot start the server {}",
                      logf::field(logf::kErr, started.error().log_text));
        return 1;
    }
    if (!start_admin_listener(s, *config)) {
        return 1;
    }
    s.engine->start();
    if (config->storage.retention_days > 0) {
        s.retention = std::make_shared<Retention>(
            s.io.get_executor(), *s.store, SystemClock::instance(), config->storage.retention_days);
        s.retention->start();
    }
    if (!config->server.tls_cert.empty()) {
        spdlog::info("https only {}", logf::field(logf::kFile, config->server.tls_cert));
    }
    spdlog::info(
        "server listening {} {} {} {}",
        logf::field("address", config->server.host + ":" + std::to_string(s.server->port())),
        logf::field("workflows", static_cast<long long>(workflows.workflows.size())),
        logf::field("sources", static_cast<long long>(config->sources.size())),
        logf::field("threads", threads));

    asio::signal_set signals(s.io, SIGINT, SIGTERM);
    const auto grace_ms = config->engine.shutdown_grace_ms;
    signals.async_wait([&s, grace_ms](boost::system::error_code ec, int signal_number) {
        if (ec) {
            return;
        }
        spdlog::info("shutting down {} {}",
                     logf::field("signal", signal_number),
                     logf::field(logf::kRuns, s.engine->in_flight()));
        s.health->set_stopping();
        s.reloader->stop();
        s.server->stop();
        if (s.admin_server) {
            s.admin_server->stop();
        }
        s.engine->stop();
        if (s.retention) {
            s.retention->stop();
        }
        shut_down(s, std::make_shared<asio::steady_timer>(s.io), 0, grace_ms);
    });

    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) {
        pool.emplace_back([&s] { s.io.run(); });
    }
    s.io.run();
    for (auto& t : pool) {
        t.join();
    }
    s.store->close();
    spdlog::info("server stopped");
    return 0;
}

}  // namespace hookflow::app
