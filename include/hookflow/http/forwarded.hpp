#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <hookflow/common/result.hpp>

// What a reverse proxy in `server.trusted_proxies` tells hookflow about the original request:
// the client's address (X-Forwarded-For) and the URL the client called (X-Forwarded-Proto,
// X-Forwarded-Host, X-Forwarded-Prefix). Headers from any other peer are ignored.
namespace hookflow::http {

/// The networks of `server.trusted_proxies`: IPv4 and IPv6 addresses and CIDR ranges.
class TrustedProxies {
  public:
    /// Parses entries such as `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`. Errc::invalid_config
    /// naming the first entry that is neither an address nor an address/prefix.
    static Result<TrustedProxies> parse(const std::vector<std::string>& entries);

    /// Whether `address` (as the socket or a header writes it) is in one of the networks; an
    /// IPv4-mapped IPv6 address counts as IPv4. False for text that is not an address.
    bool contains(std::string_view address) const;

    /// Whether no proxy is trusted (the default: every X-Forwarded-* header is ignored).
    bool empty() const { return v4_.empty() && v6_.empty(); }

  private:
    std::vector<boost::asio::ip::network_v4> v4_;
    std::vector<boost::asio::ip::network_v6> v6_;
};

/// The address of the client behind the proxies. When `peer` is trusted, walks
/// `x_forwarded_for` (all X-Forwarded-For values joined with `,`) from the right, skipping
/// trusted hops, and returns the first untrusted address; a malformed entry stops the walk at
/// the last good address (or the peer). Otherwise, and when the header is empty: the peer.
/// Addresses come back in canonical form, so a header cannot inject text into logs.
std::string client_address(std::string_view peer,
                           std::string_view x_forwarded_for,
                           const TrustedProxies& trusted);

/// The X-Forwarded-* headers of a request and its Host header, as received ("" when absent;
/// several headers of one name joined with `,`).
struct ForwardedHeaders {
    std::string_view proto;        // X-Forwarded-Proto
    std::string_view host;         // X-Forwarded-Host
    std::string_view prefix;       // X-Forwarded-Prefix
    std::string_view host_header;  // Host
};

/// The URL the client called, without query: `scheme://host` + prefix + `path`, from the
/// headers of a trusted proxy (the last value of each list: the one the nearest proxy set;
/// scheme `http` and the Host header when the proxy sent no X-Forwarded-Proto / -Host).
/// Errc::unauthorized with a short reason when the peer is not trusted or a header is
/// malformed (a scheme other than http/https, a host with other characters than a hostname,
/// an IP literal and port allow, a prefix not starting with `/`).
Result<std::string> forwarded_url(std::string_view peer,
                                  const ForwardedHeaders& headers,
                                  std::string_view path,
                                  const TrustedProxies& trusted);

}  // namespace hookflow::http
