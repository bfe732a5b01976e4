// The `Retry-After` header: how long a provider asks us to wait before the next attempt.

#include <array>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include <hookflow/connectors/connector.hpp>

namespace hookflow::connectors {

namespace {

// Longer than any sane provider asks; a bigger value is read as garbage.
constexpr std::int64_t kMaxDelaySeconds = 7 * 24 * 3600;

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

std::int64_t delay_seconds(std::string_view text) {
    if (text.empty() || text.size() > 9) {
        return -1;
    }
    std::int64_t seconds = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return -1;
        }
        seconds = seconds * 10 + (c - '0');
    }
    return seconds <= kMaxDelaySeconds ? seconds * 1000 : -1;
}

int month_index(const char* name) {
    static constexpr std::array<std::string_view, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (std::size_t i = 0; i < kMonths.size(); ++i) {
        if (kMonths[i] == name) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

struct DateParts {
    int day = 0;
    int year = 0;
    int hour = 0;
    int minute = 0;
    int second = 0;
    std::array<char, 4> month{};
    std::array<char, 4> zone{};
};

// The three forms RFC 9110 accepts; true when `text` is wholly one of them.
bool scan_date(const std::string& text, DateParts& p) {
    int used = 0;
    auto whole = [&](int fields, int expected) {
        return fields == expected && used == static_cast<int>(text.size());
    };
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    int fields = std::sscanf(text.c_str(),
                             "%*[A-Za-z], %d %3[A-Za-z] %d %d:%d:%d %3s%n",
                             &p.day,
                             p.month.data(),
                             &p.year,
                             &p.hour,
                             &p.minute,
                             &p.second,
                             p.zone.data(),
                             &used);
    if (whole(fields, 7)) {
        return true;
    }
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    used = 0;
    fields = std::sscanf(text.c_str(),
                         "%*[A-Za-z], %d-%3[A-Za-z]-%d %d:%d:%d %3s%n",
                         &p.day,
                         p.month.data(),
                         &p.year,
                         &p.hour,
                         &p.minute,
                         &p.second,
                         p.zone.data(),
                         &used);
    if (whole(fields, 7)) {
        if (p.year < 100) {
            p.year += p.year < 70 ? 2000 : 1900;
        }
        return true;
    }
    // asctime: Sun Nov  6 08:49:37 1994
    used = 0;
    fields = std::sscanf(text.c_str(),
                         "%*[A-Za-z] %3[A-Za-z] %d %d:%d:%d %d%n",
                         p.month.data(),
                         &p.day,
                         &p.hour,
                         &p.minute,
                         &p.second,
                         &p.year,
                         &used);
    if (whole(fields, 6)) {
        p.zone = {'G', 'M', 'T', '\0'};
        return true;
    }
    return false;
}

std::int64_t http_date_ms(std::string_view text) {
    DateParts p;
    if (!scan_date(std::string(text), p) || std::string_view(p.zone.data()) != "GMT") {
        return -1;
    }
    int month = month_index(p.month.data());
    if (month < 0 || p.day < 1 || p.day > 31 || p.year < 1970 || p.year > 9999 || p.hour > 23 ||
        p.minute > 59 || p.second > 60 || p.hour < 0 || p.minute < 0 || p.second < 0) {
        return -1;
    }
    std::tm tm{};
    tm.tm_year = p.year - 1900;
    tm.tm_mon = month;
    tm.tm_mday = p.day;
    tm.tm_hour = p.hour;
    tm.tm_min = p.minute;
    tm.tm_sec = p.second;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

}  // namespace

std::int64_t parse_retry_after_ms(std::string_view value, std::int64_t now_ms) {
    value = trim(value);
    if (auto delay = delay_seconds(value); delay >= 0) {
        return delay;
    }
    auto at = http_date_ms(value);
    if (at < 0) {
        return -1;
    }
    if (at - now_ms > kMaxDelaySeconds * 1000) {
        return -1;
    }
    return at > now_ms ? at - now_ms : 0;
}

}  // namespace hookflow::connectors
