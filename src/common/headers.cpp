#include <hookflow/common/headers.hpp>

namespace hookflow {

namespace {

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) {
            return std::string_view(value);
        }
    }
    return std::nullopt;
}

std::size_t count_header(const Headers& headers, std::string_view name) {
    std::size_t n = 0;
    for (const auto& header : headers) {
        if (iequals(header.first, name)) {
            ++n;
        }
    }
    return n;
}

}  // namespace hookflow
