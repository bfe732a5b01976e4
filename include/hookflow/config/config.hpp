#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <hookflow/common/result.hpp>

namespace hookflow::config {

/// A config value after `${VAR}` interpolation. When the value came from a `${VAR}` that is
/// unset and has no default, `value` is empty and `missing_var` names the variable.
struct Setting {
    std::string value;
    std::string missing_var;

    bool is_set() const { return missing_var.empty() && !value.empty(); }
};

struct ServerConfig {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::string public_url;
    std::size_t max_body_bytes = 1048576;
    int header_timeout_seconds = 10;
    int idle_timeout_seconds = 60;
    int threads = 0;  // 0: the number of cores
};

struct StorageConfig {
    std::string sqlite = "var/hookflow.db";
    int busy_timeout_ms = 2000;
};

struct EngineConfig {
    int workers = 16;
    int max_attempts = 5;
    int lease_seconds = 60;
    int poll_interval_ms = 1000;
};

struct WorkflowsConfig {
    std::string dir = "workflows";
};

struct LogConfig {
    std::string level = "info";
    std::string format = "text";
    std::string file;
};

struct AdminConfig {
    Setting token;
};

/// One webhook source: `POST /hooks/{name}`, verified with `provider`'s scheme.
struct SourceConfig {
    std::string name;
    std::string provider;
    /// Secrets that are set; an unset `${VAR}` entry is left out and named in `missing_vars`.
    std::vector<std::string> secrets;
    std::vector<std::string> missing_vars;
    int tolerance_seconds = 300;
};

/// One connector block, `connectors.<name>`. `type` is the connector kind (stripe, crm, llm,
/// sendgrid, slack, http); it defaults to the block's name.
struct ConnectorConfig {
    std::string name;
    std::string type;
    std::string base_url;
    int timeout_seconds = 0;  // 0: the connector's own default
    std::string ca_file;
    /// Every other key of the block (api_key, token, model, ...), interpolated.
    std::map<std::string, Setting> settings;

    /// A setting by key; an absent key is a Setting with empty value and no missing_var.
    Setting get(const std::string& key) const;
};

struct Config {
    std::filesystem::path path;
    ServerConfig server;
    StorageConfig storage;
    EngineConfig engine;
    WorkflowsConfig workflows;
    LogConfig log;
    AdminConfig admin;
    std::map<std::string, SourceConfig> sources;
    std::map<std::string, ConnectorConfig> connectors;
};

/// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment.
EnvLookup process_env();

/// Replaces `${VAR}` and `${VAR:-default}` in `text`. Fails on an unterminated `${`.
Result<Setting> interpolate(const std::string& text, const EnvLookup& env);

/// Loads and validates a config file. Errors read `file:line:col: message`.
Result<Config> load_config(const std::filesystem::path& path, const EnvLookup& env);

/// Builds a config from YAML text (for tests); `name` stands for the file in errors.
Result<Config> parse_config(const std::string& yaml_text,
                            const std::string& name,
                            const EnvLookup& env);

}  // namespace hookflow::config
