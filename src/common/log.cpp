#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/details/os.h>
#include <spdlog/fmt/chrono.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <hookflow/common/log.hpp>

namespace hookflow::logf {

namespace {

bool needs_quotes(std::string_view value) {
    if (value.empty()) {
        return true;
    }
    for (char c : value) {
        if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::string field(std::string_view key, std::string_view value) {
    std::string out(key);
    out += '=';
    if (!needs_quotes(value)) {
        out += value;
        return out;
    }
    // JSON string escaping keeps a line one line whatever the value holds.
    out += nlohmann::json(std::string(value))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return out;
}

std::string field(std::string_view key, long long value) {
    return std::string(key) + "=" + std::to_string(value);
}

std::string fields(std::initializer_list<std::pair<std::string_view, std::string_view>> kvs) {
    std::string out;
    for (const auto& [key, value] : kvs) {
        if (!out.empty()) {
            out += ' ';
        }
        out += field(key, value);
    }
    return out;
}

}  // namespace hookflow::logf

namespace hookflow {

namespace {

using OrderedJson = nlohmann::ordered_json;

// Fields whose values are names or ids: kept as JSON strings even when they look like numbers
// (a provider's delivery id or a step id may be all digits), so a field keeps one type.
constexpr std::array<std::string_view, 18> kTextFields = {logf::kRequest,
                                                          logf::kDelivery,
                                                          logf::kSource,
                                                          logf::kProvider,
                                                          logf::kEvent,
                                                          logf::kType,
                                                          logf::kRun,
                                                          logf::kWorkflow,
                                                          logf::kStep,
                                                          logf::kAction,
                                                          logf::kStatus,
                                                          logf::kReason,
                                                          logf::kErr,
                                                          logf::kFile,
                                                          "client",
                                                          "path",
                                                          "method",
                                                          "address"};

bool is_key_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || c == '_' || (!first && ((c >= '0' && c <= '9') || c == '.'));
}

/// The length of `key=` at the start of `text`, or 0 when it does not start with one.
std::size_t key_length(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && is_key_char(text[i], i == 0)) {
        ++i;
    }
    return (i > 0 && i < text.size() && text[i] == '=') ? i : 0;
}

bool is_count(std::string_view key, std::string_view value) {
    if (value.empty() || value.size() > 15 ||
        std::find(kTextFields.begin(), kTextFields.end(), key) != kTextFields.end()) {
        return false;
    }
    auto digits = value.front() == '-' ? value.substr(1) : value;
    return !digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos &&
           (digits.size() == 1 || digits.front() != '0');
}

/// Parses `key=value key="quoted" ...` into `out`; false when the text is not only fields.
bool parse_fields(std::string_view text, OrderedJson& out) {
    while (!text.empty()) {
        auto key_len = key_length(text);
        if (key_len == 0) {
            return false;
        }
        std::string key(text.substr(0, key_len));
        text.remove_prefix(key_len + 1);
        std::size_t end = 0;
        if (!text.empty() && text.front() == '"') {
            // A quoted value is a JSON string (see logf::field): find its closing quote.
            end = 1;
            while (end < text.size() && text[end] != '"') {
                end += text[end] == '\\' ? 2 : 1;
            }
            if (end >= text.size()) {
                return false;
            }
            ++end;
            auto parsed = OrderedJson::parse(text.substr(0, end), nullptr, false);
            if (parsed.is_discarded()) {
                return false;
            }
            out[key] = std::move(parsed);
        } else {
            end = std::min(text.find(' '), text.size());
            auto value = text.substr(0, end);
            out[key] = is_count(key, value) ? OrderedJson(std::stoll(std::string(value)))
                                            : OrderedJson(std::string(value));
        }
        text.remove_prefix(end);
        if (!text.empty() && text.front() == ' ') {
            text.remove_prefix(1);
        }
    }
    return true;
}

/// Adds `msg` and the fields of `message` to `line`.
void add_message(std::string_view message, OrderedJson& line) {
    // The phrase ends where the first ` key=` begins.
    std::size_t start = key_length(message) > 0 ? 0 : std::string_view::npos;
    for (std::size_t i = message.find(' ');
         start == std::string_view::npos && i != std::string_view::npos;
         i = message.find(' ', i + 1)) {
        if (key_length(message.substr(i + 1)) > 0) {
            start = i + 1;
        }
    }
    OrderedJson fields = OrderedJson::object();
    if (start == std::string_view::npos || !parse_fields(message.substr(start), fields)) {
        line["msg"] = std::string(message);
        return;
    }
    line["msg"] = std::string(message.substr(0, start == 0 ? 0 : start - 1));
    for (auto& [key, value] : fields.items()) {
        // A field never replaces time, level or msg.
        line[line.contains(key) ? "field_" + key : key] = std::move(value);
    }
}

/// Writes each record as one JSON object per line: time, level, msg, then one key per field.
class JsonFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        OrderedJson line;
        auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(msg.time);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time - seconds).count();
        line["time"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(msg.time), ms);
        line["level"] = std::string(spdlog::level::to_string_view(msg.level).data(),
                                    spdlog::level::to_string_view(msg.level).size());
        add_message(std::string_view(msg.payload.data(), msg.payload.size()), line);
        auto text = line.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
        dest.append(text.data(), text.data() + text.size());
        dest.push_back('\n');
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

}  // namespace

std::string json_log_fields(std::string_view message) {
    OrderedJson line = OrderedJson::object();
    add_message(message, line);
    return line.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

void setup_logging(const std::string& level, const std::string& format, const std::string& file) {
    setup_logging(LogOptions{level, format, file});
}

void setup_logging(const LogOptions& options) {
    auto parsed = spdlog::level::from_str(options.level);
    if (parsed == spdlog::level::off && options.level != "off") {
        throw std::runtime_error("log.level: unknown level '" + options.level + "'");
    }
    if (options.format != "text" && options.format != "json") {
        throw std::runtime_error("log.format: expected text or json, got '" + options.format + "'");
    }

    std::vector<spdlog::sink_ptr> sinks;
    sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
    if (!options.file.empty()) {
        // spdlog rotates before a line that would pass the size, so no line is split across
        // files; FILE.1 is the newest rotated file.
        try {
            sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
                options.file,
                static_cast<std::size_t>(options.max_size_bytes),
                static_cast<std::size_t>(std::max(options.max_files, 0))));
        } catch (const spdlog::spdlog_ex& e) {
            throw std::runtime_error("log.file: cannot open " + options.file + ": " + e.what());
        }
    }
    auto logger = std::make_shared<spdlog::logger>("hookflow", sinks.begin(), sinks.end());
    if (options.format == "json") {
        logger->set_formatter(std::make_unique<JsonFormatter>());
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    }
    logger->set_level(parsed);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
}

}  // namespace hookflow
