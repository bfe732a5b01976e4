#include <algorithm>
#include <array>
#include <cctype>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include <hookflow/http/forwarded.hpp>

namespace hookflow::http {

namespace asio_ip = boost::asio::ip;

namespace {

constexpr std::size_t kMaxHostLength = 255;

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

// An address in the form every comparison uses: IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what a
// dual-stack socket reports for an IPv4 client) becomes plain IPv4.
std::optional<asio_ip::address> parse_address(std::string_view text) {
    boost::system::error_code ec;
    auto address = asio_ip::make_address(std::string(text), ec);
    if (ec) {
        return std::nullopt;
    }
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return asio_ip::make_address_v4(asio_ip::v4_mapped, address.to_v6());
    }
    return address;
}

bool in_network(const asio_ip::address_v4& address, const asio_ip::network_v4& network) {
    auto mask = network.netmask().to_uint();
    return (address.to_uint() & mask) == (network.address().to_uint() & mask);
}

bool in_network(const asio_ip::address_v6& address, const asio_ip::network_v6& network) {
    auto bytes = address.to_bytes();
    auto prefix = network.address().to_bytes();
    unsigned bits = network.prefix_length();
    for (std::size_t i = 0; i < bytes.size() && bits > 0; ++i) {
        auto take = std::min(bits, 8U);
        auto mask = static_cast<unsigned char>(0xFFU << (8U - take));
        if ((bytes[i] & mask) != (prefix[i] & mask)) {
            return false;
        }
        bits -= take;
    }
    return true;
}

// The last element of a comma-separated header list: the value the nearest proxy wrote.
// Earlier values may come from the client or from proxies hookflow does not know.
std::string_view last_value(std::string_view list) {
    auto comma = list.rfind(',');
    return trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
}

// A hostname, an IPv4 literal or a bracketed IPv6 literal, with an optional port: anything
// else (spaces, `/`, `@`, `?`) would change the meaning of the URL built from it.
bool valid_host(std::string_view host) {
    if (host.empty() || host.size() > kMaxHostLength) {
        return false;
    }
    return std::all_of(host.begin(), host.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return std::isalnum(u) != 0 || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' ||
               c == ']';
    });
}

// A path prefix such as `/webhooks`: starts with `/`, holds no query, fragment, space or
// control character.
bool valid_prefix(std::string_view prefix) {
    if (!prefix.starts_with('/')) {
        return false;
    }
    return std::none_of(prefix.begin(), prefix.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7F || c == '?' || c == '#' || c == '\\';
    });
}

Error refusal(std::string_view reason) {
    return make_error(Errc::unauthorized, std::string(reason));
}

}  // namespace

Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries) {
    TrustedProxies trusted;
    for (const auto& entry : entries) {
        boost::system::error_code ec;
        if (entry.find('/') == std::string::npos) {
            auto address = parse_address(entry);
            if (address && address->is_v4()) {
                trusted.v4_.emplace_back(address->to_v4(), 32);
                continue;
            }
            if (address) {
                trusted.v6_.emplace_back(address->to_v6(), 128);
                continue;
            }
        } else if (entry.find(':') == std::string::npos) {
            trusted.v4_.push_back(asio_ip::make_network_v4(entry, ec));
            if (!ec) {
                continue;
            }
        } else {
            trusted.v6_.push_back(asio_ip::make_network_v6(entry, ec));
            if (!ec) {
                continue;
            }
        }
        return make_error(
            Errc::invalid_config,
            "server.trusted_proxies: '" + entry + "' is not an IPv4 or IPv6 address or CIDR range");
    }
    return trusted;
}

bool TrustedProxies::contains(std::string_view address) const {
    auto parsed = parse_address(trim(address));
    if (!parsed) {
        return false;
    }
    if (parsed->is_v4()) {
        return std::any_of(v4_.begin(), v4_.end(), [&](const auto& network) {
            return in_network(parsed->to_v4(), network);
        });
    }
    return std::any_of(v6_.begin(), v6_.end(), [&](const auto& network) {
        return in_network(parsed->to_v6(), network);
    });
}

std::string client_address(std::string_view peer,
                           std::string_view x_forwarded_for,
                           const TrustedProxies& trusted) {
    auto parsed_peer = parse_address(peer);
    std::string current = parsed_peer ? parsed_peer->to_string() : std::string(peer);
    if (!trusted.contains(current)) {
        return current;
    }

    // Each trusted proxy appended the address it saw; the rightmost untrusted one is the
    // client. Entries left of it were written by the client and prove nothing.
    auto rest = x_forwarded_for;
    while (!trim(rest).empty()) {
        auto comma = rest.rfind(',');
        auto entry = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
        auto address = parse_address(entry);
        if (!address) {
            break;
        }
        current = address->to_string();
        if (!trusted.contains(current)) {
            break;
        }
    }
    return current;
}

// Limitation: only X-Forwarded-*; a proxy that sends just RFC 7239 `Forwarded` is not understood.
Result<std::string> forwarded_url(std::string_view peer,
                                  const ForwardedHeaders& headers,
                                  std::string_view path,
                                  const TrustedProxies& trusted) {
    if (!trusted.contains(peer)) {
        return refusal("peer is not a trusted proxy");
    }

    // The scheme and host the client used, as the nearest proxy reports them.
    std::string scheme = "http";
    if (auto proto = last_value(headers.proto); !proto.empty()) {
        scheme.clear();
        std::transform(proto.begin(), proto.end(), std::back_inserter(scheme), [](char c) {
            return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        });
        if (scheme != "http" && scheme != "https") {
            return refusal("malformed X-Forwarded-Proto");
        }
    }
    auto host = last_value(headers.host);
    if (host.empty()) {
        host = trim(headers.host_header);
    }
    if (!valid_host(host)) {
        return refusal(headers.host.empty() ? "malformed or missing Host"
                                            : "malformed X-Forwarded-Host");
    }

    // A proxy that strips a path prefix says which one, so the original path can be rebuilt.
    auto prefix = last_value(headers.prefix);
    while (prefix.ends_with('/')) {
        prefix.remove_suffix(1);
    }
    if (!prefix.empty() && !valid_prefix(prefix)) {
        return refusal("malformed X-Forwarded-Prefix");
    }
    return scheme + "://" + std::string(host) + std::string(prefix) + std::string(path);
}

}  // namespace hookflow::http
