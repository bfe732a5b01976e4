#include <memory>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/details/os.h>
#include <spdlog/fmt/chrono.h>
#include <spdlog/sinks/basic_file_sink.h>
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

/// Writes each record as one JSON object per line: time, level, msg.
class JsonFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        nlohmann::json line;
        auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(msg.time);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time - seconds).count();
        line["time"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(msg.time), ms);
        line["level"] = std::string(spdlog::level::to_string_view(msg.level).data(),
                                    spdlog::level::to_string_view(msg.level).size());
        line["msg"] = std::string(msg.payload.data(), msg.payload.size());
        auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        dest.append(text.data(), text.data() + text.size());
        dest.push_back('\n');
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

}  // namespace

void setup_logging(const std::string& level, const std::string& format, const std::string& file) {
    auto parsed = spdlog::level::from_str(level);
    if (parsed == spdlog::level::off && level != "off") {
        throw std::runtime_error("log.level: unknown level '" + level + "'");
    }
    if (format != "text" && format != "json") {
        throw std::runtime_error("log.format: expected text or json, got '" + format + "'");
    }

    std::vector<spdlog::sink_ptr> sinks;
    sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
    if (!file.empty()) {
        sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
    }
    auto logger = std::make_shared<spdlog::logger>("hookflow", sinks.begin(), sinks.end());
    if (format == "json") {
        logger->set_formatter(std::make_unique<JsonFormatter>());
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    }
    logger->set_level(parsed);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
}

}  // namespace hookflow
