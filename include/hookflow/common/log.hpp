#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace hookflow::logf {

// The names of the key=value fields on log lines; one name per idea, used everywhere.
inline constexpr std::string_view kRequest = "request";
inline constexpr std::string_view kDelivery = "delivery";
inline constexpr std::string_view kSource = "source";
inline constexpr std::string_view kProvider = "provider";
inline constexpr std::string_view kEvent = "event";
inline constexpr std::string_view kType = "type";
inline constexpr std::string_view kRun = "run";
inline constexpr std::string_view kWorkflow = "workflow";
inline constexpr std::string_view kStep = "step";
inline constexpr std::string_view kAction = "action";
inline constexpr std::string_view kAttempt = "attempt";
inline constexpr std::string_view kStatus = "status";
inline constexpr std::string_view kHttpStatus = "http_status";
inline constexpr std::string_view kElapsedMs = "elapsed_ms";
inline constexpr std::string_view kReason = "reason";
inline constexpr std::string_view kErr = "err";
inline constexpr std::string_view kRuns = "runs";
inline constexpr std::string_view kFile = "file";

/// One `key=value` field; a value with spaces, quotes or `=` is double-quoted and escaped.
std::string field(std::string_view key, std::string_view value);
std::string field(std::string_view key, long long value);

/// Joins fields with single spaces: `fields({{kRun, id}, {kStep, step}})`.
std::string fields(std::initializer_list<std::pair<std::string_view, std::string_view>> kvs);

}  // namespace hookflow::logf

namespace hookflow {

/// Configures spdlog's default logger: level (trace..critical), format (`text` or `json`),
/// optional file. Throws std::runtime_error on an unknown level or format (start-up only).
void setup_logging(const std::string& level, const std::string& format, const std::string& file);

/// Where and how the server logs (the `log:` block).
struct LogOptions {
    std::string level = "info";
    std::string format = "text";  // text or json
    std::string file;             // empty: stdout only
    std::uint64_t max_size_bytes = 100ULL * 1024 * 1024;
    int max_files = 5;  // rotated files kept beside `file`
};

/// Configures spdlog's default logger: always stdout, plus `file` rotated by size when set.
/// Throws std::runtime_error on an unknown level or format, or a file that cannot be opened.
void setup_logging(const LogOptions& options);

/// Turns one log message (`fixed phrase key=value ...`) into a JSON object: `msg` holds the
/// phrase, each field becomes a key (counts and durations as numbers); text it cannot split
/// stays in `msg`. Used by the JSON format.
std::string json_log_fields(std::string_view message);

}  // namespace hookflow
