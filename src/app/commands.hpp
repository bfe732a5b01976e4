#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <hookflow/common/headers.hpp>
#include <hookflow/config/config.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::app {

/// Loads the config or prints its errors to stderr; nullopt on errors.
std::optional<config::Config> load_or_report(const std::string& path);

/// Opens the config's database for the CLI; prints why and returns null when it does not
/// exist (reading never creates one) or cannot be opened.
std::unique_ptr<store::Store> open_existing_store(const config::Config& config);

/// Prints runs as the CLI shows them: a table, or a JSON array with `as_json`. Returns 0.
int print_runs(const std::vector<store::RunRow>& rows, bool as_json);

/// `hookflow serve`: runs the server until SIGTERM or SIGINT. Returns the exit code.
int serve(const std::string& config_path);

/// `hookflow validate [PATH...]`: checks the config and workflows; 0 when all is well.
int validate(const std::string& config_path, const std::vector<std::string>& paths);

/// A file's bytes signed now for a configured source, as `sign` prints and `trigger` sends.
struct SignedFile {
    config::Config config;
    std::string body;
    Headers headers;
};

/// Reads FILE and signs it for SOURCE; prints the problem to stderr and returns nullopt when
/// the config, the source, the file or the signing key is wrong.
std::optional<SignedFile> sign_file(const std::string& config_path,
                                    const std::string& source,
                                    const std::string& file);

/// `hookflow sign --source NAME FILE`: prints the headers that make FILE a valid delivery.
int sign(const std::string& config_path, const std::string& source, const std::string& file);

/// Filters and page of `events list` and `runs list`, as typed (checked like the admin API's).
struct ListOptions {
    int limit = 50;
    std::string cursor;
    std::string source;  // events
    std::string type;
    std::string since;
    std::string until;
    std::string workflow;  // runs
    std::string status;
    std::string event;
};

/// `hookflow events list|show`, `hookflow runs list|show`.
int events_list(const std::string& config_path, const ListOptions& options, bool as_json);
int events_show(const std::string& config_path, const std::string& id, bool as_json);
int runs_list(const std::string& config_path, const ListOptions& options, bool as_json);
int runs_show(const std::string& config_path, const std::string& id, bool as_json);

/// `hookflow dead list`: runs that used up their attempts or failed for good.
int dead_list(const std::string& config_path, int limit, bool as_json);

/// `hookflow dead retry RUN_ID`: queues a dead run again; it resumes at the failed step.
int dead_retry(const std::string& config_path, const std::string& run_id);

/// `hookflow replay EVENT_ID`: queues new runs for a stored event from their first step.
int replay(const std::string& config_path, const std::string& event_id);

}  // namespace hookflow::app
