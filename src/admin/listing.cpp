#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>

#include <hookflow/admin/listing.hpp>
#include <hookflow/common/crypto.hpp>
#include <hookflow/common/json_limits.hpp>

namespace hookflow::admin {

using nlohmann::ordered_json;

namespace {

constexpr std::string_view kCursorPrefix = "c1:";
constexpr std::size_t kMaxIdLength = 128;

Error bad_time(std::string_view text) {
    return make_error(Errc::bad_request,
                      "bad time '" + std::string(text.substr(0, 40)) +
                          "': expected RFC 3339 (2026-12-04T18:00:00Z), a date (2026-12-04) or "
                          "unix seconds");
}

bool all_digits(std::string_view text) {
    return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// A fixed-width number at `pos`; nullopt unless it is all digits.
std::optional<int> digits_at(std::string_view text, std::size_t pos, std::size_t width) {
    if (pos + width > text.size() || !all_digits(text.substr(pos, width))) {
        return std::nullopt;
    }
    int value = 0;
    std::from_chars(text.data() + pos, text.data() + pos + width, value);
    return value;
}

// Milliseconds of the fraction after a '.', and where it ends.
std::pair<std::int64_t, std::size_t> fraction_ms(std::string_view text, std::size_t pos) {
    if (pos >= text.size() || text[pos] != '.') {
        return {0, pos};
    }
    std::size_t end = pos + 1;
    std::int64_t ms = 0;
    int scale = 100;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
        ms += (text[end] - '0') * scale;
        scale /= 10;
        ++end;
    }
    return {ms, end == pos + 1 ? std::string_view::npos : end};
}

// The offset from UTC in minutes of `Z`, `+HH:MM` or `-HH:MM` filling the rest of `zone`.
std::optional<int> offset_minutes(std::string_view zone) {
    if (zone == "Z" || zone == "z") {
        return 0;
    }
    if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') {
        return std::nullopt;
    }
    auto hours = digits_at(zone, 1, 2);
    auto minutes = digits_at(zone, 4, 2);
    if (!hours || !minutes || *hours > 23 || *minutes > 59) {
        return std::nullopt;
    }
    int total = *hours * 60 + *minutes;
    return zone[0] == '-' ? -total : total;
}

std::optional<std::int64_t> days_since_epoch(std::string_view text) {
    auto year = digits_at(text, 0, 4);
    auto month = digits_at(text, 5, 2);
    auto day = digits_at(text, 8, 2);
    if (!year || !month || !day || text[4] != '-' || text[7] != '-') {
        return std::nullopt;
    }
    std::chrono::year_month_day date{std::chrono::year{*year},
                                     std::chrono::month{static_cast<unsigned>(*month)},
                                     std::chrono::day{static_cast<unsigned>(*day)}};
    if (!date.ok()) {
        return std::nullopt;
    }
    return std::chrono::sys_days{date}.time_since_epoch().count();
}

std::optional<std::int64_t> rfc3339_ms(std::string_view text) {
    if (text.size() < 10) {
        return std::nullopt;
    }
    auto days = days_since_epoch(text);
    if (!days) {
        return std::nullopt;
    }
    std::int64_t ms = *days * 86400000;
    if (text.size() == 10) {
        return ms;
    }
    char separator = text[10];
    auto hour = digits_at(text, 11, 2);
    auto minute = digits_at(text, 14, 2);
    auto second = digits_at(text, 17, 2);
    if ((separator != 'T' && separator != 't' && separator != ' ') || !hour || !minute || !second ||
        text[13] != ':' || text[16] != ':' || *hour > 23 || *minute > 59 || *second > 60) {
        return std::nullopt;
    }
    auto [fraction, end] = fraction_ms(text, 19);
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    auto offset = offset_minutes(text.substr(end));
    if (!offset) {
        return std::nullopt;
    }
    ms += ((std::int64_t{*hour} * 60 + *minute - *offset) * 60 + *second) * 1000 + fraction;
    return ms;
}

bool id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

// Stored JSON texts are shown as JSON values; anything unparsable or nested too deeply to walk
// safely (stored before answers were depth-checked) as a string.
ordered_json parsed(const std::string& text) {
    if (text.empty()) {
        return nullptr;
    }
    auto value = parse_ordered_json_bounded(text);
    return value ? std::move(value.value()) : ordered_json(text);
}

}  // namespace

Result<std::int64_t> parse_time_ms(std::string_view text) {
    if (all_digits(text) && text.size() <= 12) {
        std::int64_t seconds = 0;
        std::from_chars(text.data(), text.data() + text.size(), seconds);
        return seconds * 1000;
    }
    if (auto ms = rfc3339_ms(text)) {
        return *ms;
    }
    return bad_time(text);
}

std::string encode_cursor(std::string_view last_id) {
    auto text = to_base64(std::string(kCursorPrefix) + std::string(last_id));
    // URL-safe alphabet without padding: the cursor goes into a query string as it is.
    std::string out;
    for (char c : text) {
        if (c == '+') {
            out += '-';
        } else if (c == '/') {
            out += '_';
        } else if (c != '=') {
            out += c;
        }
    }
    return out;
}

Result<std::string> decode_cursor(std::string_view cursor) {
    auto bad = make_error(Errc::bad_request, "bad cursor");
    if (cursor.empty() || cursor.size() > 2 * kMaxIdLength) {
        return bad;
    }
    std::string text;
    for (char c : cursor) {
        if (c == '-') {
            text += '+';
        } else if (c == '_') {
            text += '/';
        } else {
            text += c;
        }
    }
    text.append((4 - text.size() % 4) % 4, '=');
    auto raw = from_base64(text);
    if (!raw || !raw->starts_with(kCursorPrefix)) {
        return bad;
    }
    auto id = raw->substr(kCursorPrefix.size());
    if (id.empty() || id.size() > kMaxIdLength ||
        !std::all_of(id.begin(), id.end(), [](char c) { return id_char(c); })) {
        return bad;
    }
    return id;
}

Result<int> parse_limit(std::string_view text) {
    int limit = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (ec != std::errc{} || end != text.data() + text.size() || limit < 1 || limit > kMaxLimit) {
        return make_error(Errc::bad_request,
                          "limit must be a number from 1 to " + std::to_string(kMaxLimit));
    }
    return limit;
}

const std::vector<std::string>& run_statuses() {
    static const std::vector<std::string> statuses = {
        "queued", "running", "succeeded", "failed", "dead", "stale", "cancelled"};
    return statuses;
}

bool is_run_status(std::string_view status) {
    const auto& all = run_statuses();
    return std::find(all.begin(), all.end(), status) != all.end();
}

Result<store::EventFilter> event_filter(std::string source,
                                        std::string type,
                                        std::string_view since,
                                        std::string_view until) {
    store::EventFilter filter{std::move(source), std::move(type), {}, {}};
    if (!since.empty()) {
        auto ms = parse_time_ms(since);
        if (!ms) {
            return make_error(Errc::bad_request, "since: " + ms.error().log_text);
        }
        filter.since_ms = *ms;
    }
    if (!until.empty()) {
        auto ms = parse_time_ms(until);
        if (!ms) {
            return make_error(Errc::bad_request, "until: " + ms.error().log_text);
        }
        filter.until_ms = *ms;
    }
    if (filter.since_ms && filter.until_ms && *filter.until_ms < *filter.since_ms) {
        return make_error(Errc::bad_request, "until is before since");
    }
    return filter;
}

Result<store::RunFilter> run_filter(std::string workflow, std::string status, std::string event) {
    if (!status.empty() && !is_run_status(status)) {
        return make_error(Errc::bad_request,
                          "unknown status '" + status.substr(0, 40) +
                              "' (queued, running, succeeded, failed, dead, stale, cancelled)");
    }
    return store::RunFilter{std::move(workflow), std::move(status), std::move(event)};
}

std::string iso_time(std::int64_t ms) {
    if (ms <= 0) {
        return "-";
    }
    std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

ordered_json event_json(const store::EventRow& e) {
    return {{"id", e.id},
            {"source", e.source},
            {"provider", e.provider},
            {"delivery_id", e.delivery_id},
            {"type", e.type},
            {"received_at_ms", e.received_at_ms},
            {"received_at", iso_time(e.received_at_ms)}};
}

ordered_json event_detail_json(const store::EventRow& event,
                               const std::vector<store::RunRow>& runs) {
    auto out = event_json(event);
    out["headers"] = parsed(event.headers_json);
    out["body"] = event.body;
    out["runs"] = ordered_json::array();
    for (const auto& run : runs) {
        out["runs"].push_back(run_json(run));
    }
    return out;
}

ordered_json run_json(const store::RunRow& r) {
    return {{"id", r.id},
            {"event_id", r.event_id},
            {"workflow", r.workflow},
            {"workflow_hash", r.workflow_hash},
            {"status", r.status},
            {"attempt", r.attempt},
            {"next_attempt_at_ms", r.next_attempt_at_ms},
            {"last_error", r.last_error},
            {"created_at_ms", r.created_at_ms},
            {"updated_at_ms", r.updated_at_ms}};
}

ordered_json run_detail_json(const store::RunRow& run, const std::vector<store::StepRow>& steps) {
    auto out = run_json(run);
    out["steps"] = ordered_json::array();
    for (const auto& step : steps) {
        out["steps"].push_back(step_json(step));
    }
    return out;
}

ordered_json step_json(const store::StepRow& s) {
    return {{"step_id", s.step_id},
            {"position", s.position},
            {"status", s.status},
            {"attempt", s.attempt},
            {"started_at_ms", s.started_at_ms},
            {"finished_at_ms", s.finished_at_ms},
            {"elapsed_ms", s.finished_at_ms > 0 ? s.finished_at_ms - s.started_at_ms : 0},
            {"request", parsed(s.request_json)},
            {"output", parsed(s.output_json)},
            {"error", s.error}};
}

}  // namespace hookflow::admin
