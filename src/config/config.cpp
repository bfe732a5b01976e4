#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <yaml-cpp/yaml.h>

#include "yaml_reader.hpp"
#include <hookflow/config/config.hpp>

namespace hookflow::config {

namespace {

using detail::Entry;
using detail::Reader;

// Bounds on keys that size resources: past them a thread pool or a log sink would fail at
// start-up (std::system_error) instead of validate naming the line.
constexpr int kMaxThreads = 256;
constexpr int kMaxWorkers = 4096;
constexpr int kMaxLogFiles = 1000;

/// An int key in [min, max]; errors naming file:line:col otherwise.
void read_bounded(Reader& r, const Entry& e, int& out, int min, int max) {
    if (auto value = r.integer(e.value, e.path, min, max)) {
        out = static_cast<int>(*value);
    }
}

constexpr std::array<std::string_view, 8> kLogLevels = {
    "trace", "debug", "info", "warn", "warning", "error", "critical", "off"};

/// Splits `host:port` (or `[v6]:port`); nullopt unless both parts are there and the port is
/// a number up to 65535.
std::optional<std::pair<std::string, std::uint16_t>> split_listen(const std::string& text) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size() ||
        text.size() - colon - 1 > 5) {
        return std::nullopt;
    }
    unsigned port = 0;
    for (char c : text.substr(colon + 1)) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port > 65535) {
        return std::nullopt;
    }
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    return std::make_pair(host, static_cast<std::uint16_t>(port));
}

void read_listen(Reader& r, const Entry& e, ServerConfig& out) {
    auto value = r.setting(e.value, e.path);
    if (!value) {
        return;
    }
    auto parts = split_listen(value->value);
    if (!parts) {
        r.error(detail::mark_of(e.value, e.key_node),
                e.path + ": expected host:port, got '" + detail::raw_text(e.value) + "'");
        return;
    }
    out.host = parts->first;
    out.port = parts->second;
}

/// Whether `text` is an IPv4 or IPv6 address, or one with a `/prefix` (a CIDR range); the
/// same parsing as http::TrustedProxies, which cannot be linked from here.
bool is_network(const std::string& text) {
    boost::system::error_code ec;
    if (text.find('/') == std::string::npos) {
        boost::asio::ip::make_address(text, ec);
    } else if (text.find(':') == std::string::npos) {
        boost::asio::ip::make_network_v4(text, ec);
    } else {
        boost::asio::ip::make_network_v6(text, ec);
    }
    return !ec;
}

/// Reads `server.trusted_proxies`: a list of addresses and CIDR ranges, each checked here so
/// that a typo is an error at its line instead of a proxy silently not trusted.
void read_trusted_proxies(Reader& r, const Entry& e, std::vector<std::string>& out) {
    if (!e.value.IsSequence()) {
        r.error(detail::mark_of(e.value, e.key_node),
                e.path + ": expected a list of addresses or CIDR ranges");
        return;
    }
    for (std::size_t i = 0; i < e.value.size(); ++i) {
        auto path = e.path + "[" + std::to_string(i) + "]";
        auto value = r.setting(e.value[i], path);
        if (!value) {
            continue;
        }
        if (!is_network(value->value)) {
            r.error(detail::mark_of(e.value[i], e.value),
                    path + ": expected an IPv4 or IPv6 address or CIDR range (10.0.0.0/8), got '" +
                        detail::raw_text(e.value[i]) + "'");
            continue;
        }
        out.push_back(value->value);
    }
}

/// Reads one of `server.tls.cert` / `server.tls.key`: a file that must exist and be readable.
void read_pem_file(Reader& r, const Entry& e, std::string& out) {
    r.read(e.value, e.path, out);
    if (out.empty()) {
        r.error(detail::mark_of(e.value, e.key_node), e.path + ": must name a PEM file");
        return;
    }
    std::ifstream file(out, std::ios::binary);
    if (!file) {
        std::error_code ec;
        const char* why = std::filesystem::exists(out, ec) ? "cannot be read" : "does not exist";
        r.error(detail::mark_of(e.value, e.key_node), e.path + ": " + out + " " + why);
    }
}

// Whether the pair is a real certificate for the key is checked when the listener starts.
void read_tls(Reader& r, const Entry& block, ServerConfig& out) {
    r.mapping(block.value, block.path, [&](const Entry& e) {
        if (e.key == "cert") {
            read_pem_file(r, e, out.tls_cert);
        } else if (e.key == "key") {
            read_pem_file(r, e, out.tls_key);
        } else {
            return false;
        }
        return true;
    });
    if (block.value.IsMap() && out.tls_cert.empty() != out.tls_key.empty()) {
        r.error(block.key_node.Mark(), block.path + ": set both cert and key, or neither");
    }
}

void read_server(Reader& r, const YAML::Node& node, ServerConfig& out) {
    r.mapping(node, "server", [&](const Entry& e) {
        if (e.key == "listen") {
            read_listen(r, e, out);
        } else if (e.key == "public_url") {
            r.read(e.value, e.path, out.public_url);
        } else if (e.key == "trusted_proxies") {
            read_trusted_proxies(r, e, out.trusted_proxies);
        } else if (e.key == "max_body_bytes") {
            r.read(e.value, e.path, out.max_body_bytes, 1);
        } else if (e.key == "header_timeout_seconds") {
            r.read(e.value, e.path, out.header_timeout_seconds, 1);
        } else if (e.key == "idle_timeout_seconds") {
            r.read(e.value, e.path, out.idle_timeout_seconds, 1);
        } else if (e.key == "threads") {
            read_bounded(r, e, out.threads, 0, kMaxThreads);
        } else if (e.key == "tls") {
            read_tls(r, e, out);
        } else {
            return false;
        }
        return true;
    });
}

void read_storage(Reader& r, const YAML::Node& node, StorageConfig& out) {
    r.mapping(node, "storage", [&](const Entry& e) {
        if (e.key == "sqlite") {
            r.read(e.value, e.path, out.sqlite);
            // An empty name would make SQLite open a private temporary database per
            // connection: deliveries acknowledged and then lost.
            if (out.sqlite.empty()) {
                r.error(e.value.Mark(), e.path + ": must name a database file");
            }
        } else if (e.key == "busy_timeout_ms") {
            r.read(e.value, e.path, out.busy_timeout_ms, 0);
        } else if (e.key == "retention_days") {
            r.read(e.value, e.path, out.retention_days, 0);
        } else {
            return false;
        }
        return true;
    });
}

/// A duration key (`500ms`, `2s`, `5m`, or seconds); must be at least `min_ms`.
void read_duration(Reader& r, const Entry& e, std::int64_t& out, std::int64_t min_ms) {
    auto value = r.setting(e.value, e.path);
    if (!value) {
        return;
    }
    auto parsed = parse_duration_ms(value->value);
    if (!parsed || *parsed < min_ms) {
        r.error(detail::mark_of(e.value, e.key_node),
                e.path + ": expected a duration such as 500ms, 2s or 5m (at least " +
                    std::to_string(min_ms) + " ms), got '" + detail::raw_text(e.value) + "'");
        return;
    }
    out = *parsed;
}

void read_retry(Reader& r, const Entry& block, EngineConfig& out) {
    r.mapping(block.value, block.path, [&](const Entry& e) {
        if (e.key == "max_attempts") {
            r.read(e.value, e.path, out.max_attempts, 1);
        } else if (e.key == "initial_backoff") {
            read_duration(r, e, out.initial_backoff_ms, 0);
        } else if (e.key == "max_backoff") {
            read_duration(r, e, out.max_backoff_ms, 0);
        } else {
            return false;
        }
        return true;
    });
}

void read_engine(Reader& r, const YAML::Node& node, EngineConfig& out) {
    r.mapping(node, "engine", [&](const Entry& e) {
        if (e.key == "workers") {
            read_bounded(r, e, out.workers, 1, kMaxWorkers);
        } else if (e.key == "max_attempts") {
            r.read(e.value, e.path, out.max_attempts, 1);
        } else if (e.key == "lease_seconds") {
            r.read(e.value, e.path, out.lease_seconds, 1);
        } else if (e.key == "poll_interval_ms") {
            r.read(e.value, e.path, out.poll_interval_ms, 1);
        } else if (e.key == "retry") {
            read_retry(r, e, out);
        } else if (e.key == "step_timeout") {
            read_duration(r, e, out.step_timeout_ms, 1);
        } else if (e.key == "run_timeout") {
            read_duration(r, e, out.run_timeout_ms, 1);
        } else if (e.key == "shutdown_grace") {
            read_duration(r, e, out.shutdown_grace_ms, 0);
        } else {
            return false;
        }
        return true;
    });
    if (out.max_backoff_ms < out.initial_backoff_ms) {
        r.error(node.Mark(), "engine.retry.max_backoff: must not be below initial_backoff");
    }
}

void read_workflows(Reader& r, const YAML::Node& node, WorkflowsConfig& out) {
    r.mapping(node, "workflows", [&](const Entry& e) {
        if (e.key != "dir") {
            return false;
        }
        r.read(e.value, e.path, out.dir);
        return true;
    });
}

void read_choice(
    Reader& r, const Entry& e, std::string& out, const std::string& expected, auto is_allowed) {
    std::string value = out;
    r.read(e.value, e.path, value);
    if (!is_allowed(value)) {
        r.error(detail::mark_of(e.value, e.key_node),
                e.path + ": expected " + expected + ", got '" + detail::raw_text(e.value) + "'");
        return;
    }
    out = value;
}

// Smaller files would rotate on nearly every line.
constexpr std::uint64_t kMinLogSize = 1024;

/// A size key (`10MB`, `512KB`, or bytes); must be at least `min`.
void read_size(Reader& r, const Entry& e, std::uint64_t& out, std::uint64_t min) {
    auto value = r.setting(e.value, e.path);
    if (!value) {
        return;
    }
    auto parsed = parse_size_bytes(value->value);
    if (!parsed || *parsed < min) {
        r.error(detail::mark_of(e.value, e.key_node),
                e.path + ": expected a size such as 512KB, 10MB or 1GB (at least " +
                    std::to_string(min) + " bytes), got '" + detail::raw_text(e.value) + "'");
        return;
    }
    out = *parsed;
}

void read_log(Reader& r, const YAML::Node& node, LogConfig& out) {
    r.mapping(node, "log", [&](const Entry& e) {
        if (e.key == "level") {
            read_choice(r,
                        e,
                        out.level,
                        "one of trace, debug, info, warn, error, critical, off",
                        [](const std::string& v) {
                            return std::find(kLogLevels.begin(), kLogLevels.end(), v) !=
                                   kLogLevels.end();
                        });
        } else if (e.key == "format") {
            read_choice(r, e, out.format, "text or json", [](const std::string& v) {
                return v == "text" || v == "json";
            });
        } else if (e.key == "file") {
            r.read(e.value, e.path, out.file);
        } else if (e.key == "max_size") {
            read_size(r, e, out.max_size_bytes, kMinLogSize);
        } else if (e.key == "max_files") {
            read_bounded(r, e, out.max_files, 0, kMaxLogFiles);
        } else {
            return false;
        }
        return true;
    });
}

void read_admin(Reader& r, const YAML::Node& node, AdminConfig& out) {
    r.mapping(node, "admin", [&](const Entry& e) {
        if (e.key == "token") {
            r.read(e.value, e.path, out.token);
        } else if (e.key == "listen") {
            ServerConfig listen;
            read_listen(r, e, listen);
            out.listen_host = listen.host;
            out.listen_port = listen.port;
        } else {
            return false;
        }
        return true;
    });
}

/// Adds one key entry: set values go to `keys`, unset `${VAR}`s to `missing_vars`.
void add_key(Reader& r,
             const YAML::Node& node,
             const std::string& path,
             std::vector<std::string>& keys,
             SourceConfig& out) {
    auto value = r.setting(node, path);
    if (!value) {
        return;
    }
    if (!value->missing_var.empty()) {
        out.missing_vars.push_back(value->missing_var);
    } else if (!value->value.empty()) {
        // An empty key would make any MAC computed with an empty key pass; leave it out.
        keys.push_back(value->value);
    }
}

/// Reads `secrets` or `public_keys`: one string or a list of strings.
void read_keys(Reader& r, const Entry& e, std::vector<std::string>& keys, SourceConfig& out) {
    if (e.value.IsSequence()) {
        for (std::size_t i = 0; i < e.value.size(); ++i) {
            add_key(r, e.value[i], e.path + "[" + std::to_string(i) + "]", keys, out);
        }
    } else if (e.value.IsMap()) {
        r.error(e.value.Mark(), e.path + ": expected a string or a list of strings");
    } else {
        add_key(r, e.value, e.path, keys, out);
    }
}

/// Reads a string that must be one of `allowed`.
void read_choice(Reader& r,
                 const Entry& e,
                 std::initializer_list<std::string_view> allowed,
                 std::string& out) {
    r.read(e.value, e.path, out);
    if (std::find(allowed.begin(), allowed.end(), out) == allowed.end()) {
        std::string list;
        for (auto choice : allowed) {
            list += (list.empty() ? "" : ", ") + std::string(choice);
        }
        r.error(detail::mark_of(e.value, e.key_node), e.path + ": expected one of " + list);
    }
}

/// The keys of the generic `hmac` provider; false for a key that is not one of them.
bool read_hmac_key(Reader& r, const Entry& e, HmacSettings& out) {
    if (e.key == "header") {
        r.read(e.value, e.path, out.header);
    } else if (e.key == "algorithm") {
        read_choice(r, e, {"sha1", "sha256", "sha512"}, out.algorithm);
    } else if (e.key == "encoding") {
        read_choice(r, e, {"hex", "base64"}, out.encoding);
    } else if (e.key == "prefix") {
        r.read(e.value, e.path, out.prefix);
    } else if (e.key == "timestamp_header") {
        r.read(e.value, e.path, out.timestamp_header);
    } else if (e.key == "delivery_id") {
        r.read(e.value, e.path, out.delivery_id);
    } else {
        return false;
    }
    return true;
}

/// The source keys added for providers other than Stripe; false for an unknown key.
// Limitation: keys of other providers (e.g. `header` on a github source) are accepted and
// ignored rather than reported.
bool read_provider_key(Reader& r, const Entry& e, SourceConfig& out) {
    if (e.key == "public_keys") {
        read_keys(r, e, out.public_keys, out);
    } else if (e.key == "signing_key") {
        r.read(e.value, e.path, out.signing_key);
    } else if (e.key == "public_url") {
        r.read(e.value, e.path, out.public_url);
    } else if (e.key == "event_type") {
        r.read(e.value, e.path, out.event_type);
    } else {
        return read_hmac_key(r, e, out.hmac);
    }
    return true;
}

bool has_path(const std::string& url) {
    auto scheme = url.find("://");
    auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    return slash != std::string::npos && slash + 1 < url.size();
}

std::string without_trailing_slash(std::string url) {
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    return url;
}

/// Makes each source's public_url the full URL its provider calls (Twilio signs it): a
/// source URL with a path is kept (a path-rewriting proxy), otherwise `/hooks/{name}` is
/// added to the source's or the server's base URL.
void resolve_public_urls(Config& config) {
    for (auto& [name, source] : config.sources) {
        if (!source.public_url.empty() && has_path(source.public_url)) {
            continue;
        }
        auto base = source.public_url.empty() ? config.server.public_url : source.public_url;
        source.public_url = base.empty() ? "" : without_trailing_slash(base) + "/hooks/" + name;
    }
}

bool is_source_name(const std::string& name) {
    if (name.empty()) {
        return false;
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

void read_source(Reader& r, const Entry& source, SourceConfig& out) {
    out.name = source.key;
    if (!is_source_name(source.key)) {
        r.error(source.key_node.Mark(),
                source.path + ": a source name may hold only letters, digits, '-', '_' and '.'");
    }
    bool has_provider = false;
    r.mapping(source.value, source.path, [&](const Entry& e) {
        if (e.key == "provider") {
            has_provider = true;
            r.read(e.value, e.path, out.provider);
            if (out.provider.empty()) {
                r.error(detail::mark_of(e.value, e.key_node), e.path + ": must not be empty");
            }
        } else if (e.key == "secrets") {
            read_keys(r, e, out.secrets, out);
        } else if (e.key == "tolerance_seconds") {
            r.read(e.value, e.path, out.tolerance_seconds, 0);
        } else if (e.key == "dedup_key") {
            // An expression for ingest (`${{ … }}`), so it is not put through ${VAR}.
            if (!e.value.IsScalar() || e.value.Scalar().empty()) {
                r.error(e.value.Mark(), e.path + ": expected an expression like ${{ event.id }}");
            } else {
                out.dedup_key = detail::raw_text(e.value);
            }
        } else {
            return read_provider_key(r, e, out);
        }
        return true;
    });
    if (out.provider == "hmac" && out.hmac.header.empty()) {
        r.error(source.key_node.Mark(), source.path + ": provider hmac needs key 'header'");
    }
    // A block that is not a mapping at all already has its error.
    bool is_block = source.value.IsMap() || source.value.IsNull();
    if (!has_provider && is_block) {
        r.error(source.key_node.Mark(), source.path + ": missing required key 'provider'");
    }
}

void read_sources(Reader& r, const YAML::Node& node, std::map<std::string, SourceConfig>& out) {
    r.mapping(node, "sources", [&](const Entry& e) {
        read_source(r, e, out[e.key]);
        return true;
    });
}

void read_connector(Reader& r, const Entry& block, ConnectorConfig& out) {
    out.name = block.key;
    out.type = block.key;
    r.mapping(block.value, block.path, [&](const Entry& e) {
        if (e.key == "type") {
            r.read(e.value, e.path, out.type);
        } else if (e.key == "base_url") {
            Setting url;
            r.read(e.value, e.path, url);
            out.base_url = url.value;
            out.base_url_missing_var = url.missing_var;
        } else if (e.key == "timeout") {
            r.read(e.value, e.path, out.timeout_seconds, 0);
        } else if (e.key == "ca_file") {
            r.read(e.value, e.path, out.ca_file);
        } else if (e.key == "rate_limit") {
            // Kept flat as settings `rate_limit.per_second` and `rate_limit.burst`.
            r.mapping(e.value, e.path, [&](const Entry& limit) {
                if (limit.key != "per_second" && limit.key != "burst") {
                    return false;
                }
                r.read(limit.value, limit.path, out.settings["rate_limit." + limit.key]);
                return true;
            });
        } else {
            r.read(e.value, e.path, out.settings[e.key]);
        }
        return true;
    });
}

void read_connectors(Reader& r,
                     const YAML::Node& node,
                     std::map<std::string, ConnectorConfig>& out) {
    r.mapping(node, "connectors", [&](const Entry& e) {
        read_connector(r, e, out[e.key]);
        return true;
    });
}

// Limitation: YAML merge keys (`<<: *anchor`) are not supported by yaml-cpp 0.7 and are
// reported as unknown keys; plain anchors and aliases work.
void read_root(Reader& r, const YAML::Node& root, Config& out) {
    r.mapping(root, "", [&](const Entry& e) {
        if (e.key == "server") {
            read_server(r, e.value, out.server);
        } else if (e.key == "storage") {
            read_storage(r, e.value, out.storage);
        } else if (e.key == "engine") {
            read_engine(r, e.value, out.engine);
        } else if (e.key == "workflows") {
            read_workflows(r, e.value, out.workflows);
        } else if (e.key == "log") {
            read_log(r, e.value, out.log);
        } else if (e.key == "admin") {
            read_admin(r, e.value, out.admin);
        } else if (e.key == "sources") {
            read_sources(r, e.value, out.sources);
        } else if (e.key == "connectors") {
            read_connectors(r, e.value, out.connectors);
        } else if (e.key == "secrets") {
            r.mapping(e.value, "secrets", [&](const Entry& secret) {
                r.read(secret.value, secret.path, out.secrets[secret.key]);
                return true;
            });
        } else {
            return false;
        }
        return true;
    });
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) {
        if (!out.empty()) {
            out += '\n';
        }
        out += line;
    }
    return out;
}

}  // namespace

Result<Config> parse_config(const std::string& yaml_text,
                            const std::string& name,
                            const EnvLookup& env) {
    Reader reader(name, env);
    YAML::Node root;
    try {
        root = YAML::Load(detail::protect_variables(yaml_text));
    } catch (const YAML::Exception& e) {
        reader.error(e.mark, e.msg);
        return make_error(Errc::invalid_config, join_lines(reader.errors()));
    }

    Config config;
    config.path = name;
    try {
        read_root(reader, root, config);
        resolve_public_urls(config);
    } catch (const YAML::Exception& e) {
        // The reader checks node kinds before use; this guards yaml-cpp's own surprises.
        reader.error(e.mark, e.msg);
    }
    if (!reader.errors().empty()) {
        return make_error(Errc::invalid_config, join_lines(reader.errors()));
    }
    return config;
}

Result<Config> load_config(const std::filesystem::path& path, const EnvLookup& env) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        std::error_code ec;
        const char* why = std::filesystem::exists(path, ec) ? "cannot be read" : "does not exist";
        return make_error(Errc::invalid_config,
                          "config file " + path.string() + " " + why,
                          "config file " + std::string(why));
    }
    std::ostringstream text;
    text << file.rdbuf();
    auto config = parse_config(text.str(), path.string(), env);
    if (config) {
        config->path = path;
    }
    return config;
}

Result<std::uint64_t> parse_size_bytes(const std::string& text) {
    static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 8> kUnits = {
        {{"KiB", 1ULL << 10},
         {"MiB", 1ULL << 20},
         {"GiB", 1ULL << 30},
         {"KB", 1ULL << 10},
         {"MB", 1ULL << 20},
         {"GB", 1ULL << 30},
         {"B", 1},
         {"", 1}}};
    for (const auto& [unit, factor] : kUnits) {
        if (text.size() <= unit.size() ||
            text.compare(text.size() - unit.size(), unit.size(), unit.data(), unit.size()) != 0) {
            continue;
        }
        auto number = text.substr(0, text.size() - unit.size());
        // Digits only, short enough that the product cannot overflow.
        if (number.find_first_not_of("0123456789") != std::string::npos || number.size() > 9) {
            continue;
        }
        return std::stoull(number) * factor;
    }
    return make_error(Errc::invalid_config, "invalid size '" + text + "'");
}

Result<std::int64_t> parse_duration_ms(const std::string& text) {
    static constexpr std::array<std::pair<std::string_view, double>, 5> kUnits = {
        {{"ms", 1.0}, {"s", 1000.0}, {"m", 60000.0}, {"h", 3600000.0}, {"", 1000.0}}};
    auto invalid = make_error(Errc::invalid_config, "invalid duration '" + text + "'");
    for (const auto& [unit, factor] : kUnits) {
        if (text.size() <= unit.size() ||
            text.compare(text.size() - unit.size(), unit.size(), unit.data(), unit.size()) != 0) {
            continue;
        }
        auto number = text.substr(0, text.size() - unit.size());
        if (number.find_first_not_of("0123456789.") != std::string::npos ||
            std::count(number.begin(), number.end(), '.') > 1 || number == ".") {
            // `5m` must not be read as `5` followed by the unit `m` of `ms`, and so on: only
            // a plain number may stand before the unit.
            continue;
        }
        double value = std::strtod(number.c_str(), nullptr) * factor;
        if (value > 9.0e15) {
            return invalid;
        }
        return static_cast<std::int64_t>(value);
    }
    return invalid;
}

}  // namespace hookflow::config
