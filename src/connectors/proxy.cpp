#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <hookflow/common/crypto.hpp>
#include <hookflow/connectors/rest_client.hpp>

namespace hookflow::connectors {

namespace {

std::string env_value(const char* lower, const char* upper_name) {
    // curl reads the lowercase names first; tools disagree, so both are read.
    for (const char* name : {lower, upper_name}) {
        if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
            return value;
        }
    }
    return {};
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    return out;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
        text.remove_suffix(1);
    }
    return text;
}

/// Whether one NO_PROXY entry (already trimmed and lowercased) covers `host`:`port`.
// Limitation: CIDR entries (`10.0.0.0/8`) are not understood; list addresses one by one.
bool entry_matches(std::string_view entry, std::string_view host, std::string_view port) {
    if (entry == "*") {
        return true;
    }
    // An entry `host:port` limits the match to that port ([v6]:port keeps its brackets).
    auto colon = entry.rfind(':');
    if (colon != std::string_view::npos && entry.find(']', colon) == std::string_view::npos &&
        entry.find(':') == colon) {
        if (entry.substr(colon + 1) != port) {
            return false;
        }
        entry = entry.substr(0, colon);
    }
    if (entry.size() > 2 && entry.front() == '[' && entry.back() == ']') {
        entry = entry.substr(1, entry.size() - 2);
    }
    if (entry.starts_with("*.")) {
        entry.remove_prefix(1);
    }
    if (entry.starts_with('.')) {
        entry.remove_prefix(1);
    }
    if (entry.empty()) {
        return false;
    }
    if (host == entry) {
        return true;
    }
    // A domain covers its subdomains: `example.com` matches `api.example.com`.
    return host.size() > entry.size() && host.ends_with(entry) &&
           host[host.size() - entry.size() - 1] == '.';
}

/// `scheme://host[:port]/...` → host and port, lowercased; empty host when unparseable.
std::pair<std::string, std::string> host_and_port(std::string_view url) {
    bool tls = url.starts_with("https://");
    auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        return {};
    }
    auto rest = url.substr(scheme_end + 3);
    auto authority = rest.substr(0, rest.find_first_of("/?#"));
    std::string port = tls ? "443" : "80";
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
        port = std::string(authority.substr(colon + 1));
        authority = authority.substr(0, colon);
    }
    if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']') {
        authority = authority.substr(1, authority.size() - 2);
    }
    return {lowercase(authority), port};
}

}  // namespace

ProxySettings ProxySettings::from_env() {
    ProxySettings out;
    out.http_proxy = env_value("http_proxy", "HTTP_PROXY");
    out.https_proxy = env_value("https_proxy", "HTTPS_PROXY");
    out.no_proxy = env_value("no_proxy", "NO_PROXY");
    return out;
}

bool no_proxy_matches(std::string_view host, std::string_view port, std::string_view no_proxy) {
    auto host_lower = lowercase(host);
    while (!no_proxy.empty()) {
        auto comma = no_proxy.find(',');
        auto entry = lowercase(trim(no_proxy.substr(0, comma)));
        if (entry_matches(entry, host_lower, port)) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        no_proxy.remove_prefix(comma + 1);
    }
    return false;
}

std::string proxy_for(std::string_view url, const ProxySettings& settings) {
    const auto& proxy = url.starts_with("https://") ? settings.https_proxy : settings.http_proxy;
    if (proxy.empty()) {
        return {};
    }
    auto [host, port] = host_and_port(url);
    if (host.empty() || no_proxy_matches(host, port, settings.no_proxy)) {
        return {};
    }
    return proxy;
}

Result<ProxyUrl> parse_proxy_url(std::string_view url) {
    auto bad = [&](std::string_view why) {
        return make_error(Errc::invalid_config, "proxy: " + std::string(why));
    };
    if (url.starts_with("http://")) {
        url.remove_prefix(7);
    } else if (url.find("://") != std::string_view::npos) {
        // Limitation: TLS to the proxy itself (an https:// proxy URL) is not supported.
        return bad("only http:// proxy URLs are supported");
    }
    url = url.substr(0, url.find_first_of("/?#"));
    ProxyUrl out;
    if (auto at = url.rfind('@'); at != std::string_view::npos) {
        auto credentials = url.substr(0, at);
        url.remove_prefix(at + 1);
        auto colon = credentials.find(':');
        out.password = colon == std::string_view::npos ? std::string()
                                                       : std::string(credentials.substr(colon + 1));
        out.authorization = "Basic " + to_base64(credentials);
    }
    out.port = "80";
    auto colon = url.rfind(':');
    if (colon != std::string_view::npos && url.find(']', colon) == std::string_view::npos) {
        out.port = std::string(url.substr(colon + 1));
        url = url.substr(0, colon);
        bool digits =
            !out.port.empty() && std::all_of(out.port.begin(), out.port.end(), [](char c) {
                return std::isdigit(static_cast<unsigned char>(c)) != 0;
            });
        if (!digits) {
            return bad("port must be a number");
        }
    }
    if (url.size() > 2 && url.front() == '[' && url.back() == ']') {
        url = url.substr(1, url.size() - 2);
    }
    if (url.empty()) {
        return bad("no host");
    }
    out.host = std::string(url);
    return out;
}

TokenBucket::TokenBucket(double per_second, double burst)
    : per_second_(per_second > 0 ? per_second : 1.0),
      burst_(burst >= 1 ? burst : 1.0),
      tokens_(burst_),
      last_(std::chrono::steady_clock::now()) {}

std::chrono::milliseconds TokenBucket::reserve(std::chrono::steady_clock::time_point now) {
    if (now > last_) {
        std::chrono::duration<double> elapsed = now - last_;
        tokens_ = std::min(burst_, tokens_ + elapsed.count() * per_second_);
        last_ = now;
    }
    // Tokens may go negative: each waiting caller owns the deficit it created.
    tokens_ -= 1.0;
    if (tokens_ >= 0) {
        return std::chrono::milliseconds(0);
    }
    auto wait_ms = -tokens_ / per_second_ * 1000.0;
    return std::chrono::milliseconds(static_cast<std::int64_t>(wait_ms + 0.999));
}

}  // namespace hookflow::connectors
