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
    /// Proxies (IPv4/IPv6 addresses or CIDR ranges) whose X-Forwarded-* headers are believed.
    std::vector<std::string> trusted_proxies;
    std::size_t max_body_bytes = 1048576;
    int header_timeout_seconds = 10;
    int idle_timeout_seconds = 60;
    int threads = 0;  // 0: the number of cores
    /// server.tls.cert / server.tls.key: PEM files; both set makes the listener HTTPS only.
    std::string tls_cert;
    std::string tls_key;
};

struct StorageConfig {
    std::string sqlite = "var/hookflow.db";
    int busy_timeout_ms = 2000;
    /// storage.retention_days: finished runs and their events older than this are deleted;
    /// 0 keeps everything.
    int retention_days = 0;
};

struct EngineConfig {
    int workers = 16;
    int max_attempts = 5;  // engine.retry.max_attempts (engine.max_attempts is the old spelling)
    int lease_seconds = 60;
    int poll_interval_ms = 1000;
    std::int64_t initial_backoff_ms = 1000;    // engine.retry.initial_backoff
    std::int64_t max_backoff_ms = 300000;      // engine.retry.max_backoff
    std::int64_t step_timeout_ms = 60000;      // engine.step_timeout
    std::int64_t run_timeout_ms = 900000;      // engine.run_timeout
    std::int64_t shutdown_grace_ms = 20000;    // engine.shutdown_grace
    std::int64_t lease_renew_interval_ms = 0;  // not in the file; 0: a third of the lease
};

struct WorkflowsConfig {
    std::string dir = "workflows";
};

struct LogConfig {
    std::string level = "info";
    std::string format = "text";
    std::string file;
    /// log.max_size: the log file rotates when it would grow past this many bytes.
    std::uint64_t max_size_bytes = 100ULL * 1024 * 1024;
    /// log.max_files: rotated files kept beside the current one (FILE.1 ... FILE.N).
    int max_files = 5;
};

struct AdminConfig {
    Setting token;  // admin.token: the bearer token of /api/; unset: the admin API is off
    /// admin.listen: a second listener for /api/ and /metrics; empty host: the main listener.
    std::string listen_host;
    std::uint16_t listen_port = 0;
};

/// The generic `hmac` provider's keys of a source block.
struct HmacSettings {
    std::string header;                // the header holding the signature (required)
    std::string algorithm = "sha256";  // sha1, sha256 or sha512
    std::string encoding = "hex";      // hex or base64
    std::string prefix;                // text before the MAC in the header, e.g. `sha256=`
    std::string timestamp_header;      // when set, the signed text is `{timestamp}.{body}`
    std::string delivery_id;           // `header:Name` or a JSON path (`data.id`); else a body hash
};

/// One webhook source: `POST /hooks/{name}`, verified with `provider`'s scheme.
struct SourceConfig {
    std::string name;
    std::string provider;
    /// Secrets that are set; an unset `${VAR}` entry is left out and named in `missing_vars`.
    std::vector<std::string> secrets;
    std::vector<std::string> missing_vars;
    int tolerance_seconds = 300;
    /// Public keys that are set (SendGrid: base64 DER or PEM; Standard Webhooks: `whpk_...`);
    /// unset `${VAR}` entries are named in `missing_vars`.
    std::vector<std::string> public_keys;
    /// A private key for `hookflow sign` and tests (SendGrid: PEM; Standard Webhooks: whsk_).
    std::string signing_key;
    /// The URL the provider calls for this source, without query: the source's `public_url`
    /// (with `/hooks/{name}` added when it has no path), else server.public_url +
    /// `/hooks/{name}`; empty when neither is set.
    std::string public_url;
    /// twilio and none: the event type; hmac: `header:Name` or a JSON path to it.
    std::string event_type;
    HmacSettings hmac;
    /// An expression over `event` and `delivery` whose value replaces the provider's delivery
    /// id for deduplication (for providers that resend one thing under new ids); empty: none.
    std::string dedup_key;
};

/// One connector block, `connectors.<name>`. `type` is the connector kind (stripe, crm, llm,
/// sendgrid, slack, http); it defaults to the block's name.
struct ConnectorConfig {
    std::string name;
    std::string type;
    std::string base_url;
    std::string base_url_missing_var;  // the unset ${VAR} base_url came from, if any
    int timeout_seconds = 0;           // 0: the connector's own default
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
    /// `secrets:` NAME -> value, for `${{ secrets.NAME }}` in workflows; redacted everywhere.
    std::map<std::string, Setting> secrets;
};

/// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment.
EnvLookup process_env();

/// Replaces `${VAR}` and `${VAR:-default}` in `text`. Fails on an unterminated `${`.
Result<Setting> interpolate(const std::string& text, const EnvLookup& env);

/// Parses a duration: `500ms`, `2s`, `5m`, `1h`, or a plain number of seconds (`1.5`).
/// Errc::invalid_config for anything else, including a negative value.
Result<std::int64_t> parse_duration_ms(const std::string& text);

/// Parses a size: `512`, `64KB`, `10MB`, `1GB` (KB, MB, GB are 1024-based; KiB, MiB, GiB
/// too). Errc::invalid_config for anything else.
Result<std::uint64_t> parse_size_bytes(const std::string& text);

/// Loads and validates a config file. Errors read `file:line:col: message`.
Result<Config> load_config(const std::filesystem::path& path, const EnvLookup& env);

/// Builds a config from YAML text (for tests); `name` stands for the file in errors.
Result<Config> parse_config(const std::string& yaml_text,
                            const std::string& name,
                            const EnvLookup& env);

}  // namespace hookflow::config
