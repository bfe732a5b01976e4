// Hot reload of the workflows folder. Runs already queued are not affected: each run executes
// the definition text stored with it, so only new deliveries see a reloaded set.

#include "app/reload.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "app/workflows.hpp"
#include <hookflow/common/crypto.hpp>
#include <hookflow/common/log.hpp>

namespace hookflow::app {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kShortHash = 12;

// The names and contents of the files `load_workflows` reads, as one digest: any added,
// removed, renamed or edited workflow file changes it.
std::string fingerprint(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        return "no folder";
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        auto ext = entry.path().extension();
        if (entry.is_regular_file(ec) && (ext == ".yaml" || ext == ".yml")) {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    std::string all;
    for (const auto& file : files) {
        std::ifstream in(file, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        all += file.filename().string() + '\0' + sha256(text.str()) + '\0';
    }
    return to_hex(sha256(all));
}

using Hashes = std::map<std::string, std::string>;  // workflow name -> definition hash

Hashes hashes_of(const engine::WorkflowSet& set) {
    Hashes out;
    for (const auto& workflow : set.workflows()) {
        out[workflow->name] = workflow->hash;
    }
    return out;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        out += (out.empty() ? "" : ",") + item;
    }
    return out.empty() ? "-" : out;
}

// `workflows reloaded` with what changed by name, and each workflow's short hash.
void log_reloaded(const Hashes& before, const Hashes& after, const std::string& why) {
    std::vector<std::string> added;
    std::vector<std::string> changed;
    std::vector<std::string> removed;
    std::vector<std::string> hashes;
    for (const auto& [name, hash] : after) {
        auto old = before.find(name);
        if (old == before.end()) {
            added.push_back(name);
        } else if (old->second != hash) {
            changed.push_back(name);
        }
        hashes.push_back(name + "@" + hash.substr(0, kShortHash));
    }
    for (const auto& [name, hash] : before) {
        if (!after.contains(name)) {
            removed.push_back(name);
        }
    }
    spdlog::info("workflows reloaded {} {} {} {} {} {}",
                 logf::field("workflows", static_cast<long long>(after.size())),
                 logf::field("added", join(added)),
                 logf::field("changed", join(changed)),
                 logf::field("removed", join(removed)),
                 logf::field("hashes", join(hashes)),
                 logf::field(logf::kReason, why));
}

}  // namespace

struct WorkflowReloader::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor executor,
         config::Config config_in,
         const connectors::Registry& registry,
         Apply apply_in,
         std::chrono::milliseconds interval_in)
        : strand(asio::make_strand(executor)),
          timer(strand),
          signals(strand, SIGHUP),
          config(std::move(config_in)),
          connectors(registry),
          apply(std::move(apply_in)),
          interval(interval_in) {}

    void arm_timer() {
        timer.expires_after(interval);
        timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec && !self->stopped) {
                self->on_tick();
                self->arm_timer();
            }
        });
    }

    void arm_signal() {
        signals.async_wait([self = shared_from_this()](boost::system::error_code ec, int) {
            if (!ec && !self->stopped) {
                self->reload(fingerprint(self->config.workflows.dir), "sighup");
                self->arm_signal();
            }
        });
    }

    // A change is loaded once two polls in a row saw it, so a file caught half-written by
    // an editor is not reported as broken.
    void on_tick() {
        auto seen = fingerprint(config.workflows.dir);
        if (seen == loaded) {
            pending.clear();
        } else if (seen == pending) {
            reload(seen, "changed");
        } else {
            pending = seen;
        }
    }

    void reload(const std::string& seen, const std::string& why) {
        loaded = seen;
        pending.clear();
        auto outcome = load_checked_workflows(config, connectors, {});
        if (!outcome.errors.empty()) {
            for (const auto& error : outcome.errors) {
                spdlog::error("workflow reload error {}",
                              logf::field(logf::kErr, error.to_string()));
            }
            spdlog::warn("workflows not reloaded; previous version stays active {} {}",
                         logf::field("errors", static_cast<long long>(outcome.errors.size())),
                         logf::field(logf::kReason, why));
            return;
        }
        auto next = std::make_shared<const engine::WorkflowSet>(std::move(outcome.workflows));
        log_reloaded(hashes_of(*active), hashes_of(*next), why);
        apply(next);
        active = std::move(next);
    }

    asio::strand<asio::any_io_executor> strand;
    asio::steady_timer timer;
    asio::signal_set signals;
    config::Config config;
    const connectors::Registry& connectors;
    Apply apply;
    std::chrono::milliseconds interval;
    std::shared_ptr<const engine::WorkflowSet> active;
    std::string loaded;   // the folder's fingerprint when it was last loaded
    std::string pending;  // a new fingerprint seen once
    bool stopped = false;
};

WorkflowReloader::WorkflowReloader(boost::asio::any_io_executor executor,
                                   config::Config config,
                                   const connectors::Registry& connectors,
                                   Apply apply,
                                   std::chrono::milliseconds interval)
    : impl_(std::make_shared<Impl>(
          std::move(executor), std::move(config), connectors, std::move(apply), interval)) {}

WorkflowReloader::~WorkflowReloader() {
    stop();
}

void WorkflowReloader::start(std::shared_ptr<const engine::WorkflowSet> active) {
    asio::post(impl_->strand, [impl = impl_, active = std::move(active)]() mutable {
        impl->active = std::move(active);
        impl->loaded = fingerprint(impl->config.workflows.dir);
        impl->arm_timer();
        impl->arm_signal();
    });
}

void WorkflowReloader::stop() {
    asio::post(impl_->strand, [impl = impl_] {
        impl->stopped = true;
        impl->timer.cancel();
        boost::system::error_code ignored;
        impl->signals.cancel(ignored);
    });
}

}  // namespace hookflow::app
