#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <hookflow/http/forwarded.hpp>

namespace {

using hookflow::http::client_address;
using hookflow::http::forwarded_url;
using hookflow::http::ForwardedHeaders;
using hookflow::http::TrustedProxies;

TrustedProxies trusted(const std::vector<std::string>& entries) {
    auto parsed = TrustedProxies::parse(entries);
    EXPECT_TRUE(parsed.ok());
    return parsed.ok() ? parsed.value() : TrustedProxies{};
}

TEST(TrustedProxies, AddressesAndRanges_Contained) {
    auto proxies = trusted({"127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "192.168.1.7/32"});
    EXPECT_TRUE(proxies.contains("127.0.0.1"));
    EXPECT_TRUE(proxies.contains("10.200.3.4"));
    EXPECT_TRUE(proxies.contains("::1"));
    EXPECT_TRUE(proxies.contains("fd12:3456::1"));
    EXPECT_TRUE(proxies.contains("192.168.1.7"));
    EXPECT_FALSE(proxies.contains("127.0.0.2"));
    EXPECT_FALSE(proxies.contains("11.0.0.1"));
    EXPECT_FALSE(proxies.contains("fe80::1"));
    EXPECT_FALSE(proxies.contains("192.168.1.8"));
    EXPECT_FALSE(proxies.empty());
}

TEST(TrustedProxies, Ipv4MappedPeer_MatchesIpv4Entry) {
    auto proxies = trusted({"10.0.0.0/8"});
    EXPECT_TRUE(proxies.contains("::ffff:10.1.2.3"));
    EXPECT_FALSE(proxies.contains("::ffff:11.1.2.3"));
}

TEST(TrustedProxies, RangeWithHostBits_CoversTheWholeRange) {
    auto proxies = trusted({"10.1.2.3/16", "2001:db8::1/32"});
    EXPECT_TRUE(proxies.contains("10.1.200.1"));
    EXPECT_FALSE(proxies.contains("10.2.0.1"));
    EXPECT_TRUE(proxies.contains("2001:db8:ffff::9"));
    EXPECT_FALSE(proxies.contains("2001:db9::1"));
}

TEST(TrustedProxies, UnalignedIpv6Prefix_ComparesBits) {
    auto proxies = trusted({"2001:db8:8000::/33"});
    EXPECT_TRUE(proxies.contains("2001:db8:8000::1"));
    EXPECT_TRUE(proxies.contains("2001:db8:ffff::1"));
    EXPECT_FALSE(proxies.contains("2001:db8:7fff::1"));
}

TEST(TrustedProxies, BadEntry_NamedInError) {
    for (const std::string entry :
         {"10.0.0.0/33", "localhost", "10.0.0", "::1/129", "10.0.0.0/", "", "1.2.3.4 "}) {
        auto parsed = TrustedProxies::parse({"127.0.0.1", entry});
        ASSERT_FALSE(parsed.ok()) << entry;
        EXPECT_EQ(
            parsed.error().log_text,
            "server.trusted_proxies: '" + entry + "' is not an IPv4 or IPv6 address or CIDR range");
    }
}

TEST(TrustedProxies, NotAnAddress_NotContained) {
    auto proxies = trusted({"0.0.0.0/0", "::/0"});
    EXPECT_TRUE(proxies.contains("8.8.8.8"));
    EXPECT_TRUE(proxies.contains("2001:db8::1"));
    EXPECT_FALSE(proxies.contains("unknown"));
    EXPECT_FALSE(proxies.contains(""));
    EXPECT_FALSE(proxies.contains("1.2.3.4:80"));
}

TEST(TrustedProxies, Empty_TrustsNobody) {
    TrustedProxies none;
    EXPECT_TRUE(none.empty());
    EXPECT_FALSE(none.contains("127.0.0.1"));
    EXPECT_TRUE(trusted({}).empty());
}

TEST(ClientAddress, UntrustedPeer_HeaderIgnored) {
    auto proxies = trusted({"10.0.0.0/8"});
    EXPECT_EQ(client_address("203.0.113.9", "1.1.1.1", proxies), "203.0.113.9");
    EXPECT_EQ(client_address("203.0.113.9", "", TrustedProxies{}), "203.0.113.9");
}

TEST(ClientAddress, TrustedPeerWithoutHeader_Peer) {
    EXPECT_EQ(client_address("10.0.0.1", "", trusted({"10.0.0.0/8"})), "10.0.0.1");
    EXPECT_EQ(client_address("10.0.0.1", " , ", trusted({"10.0.0.0/8"})), "10.0.0.1");
}

TEST(ClientAddress, TrustedHops_SkippedFromTheRight) {
    auto proxies = trusted({"10.0.0.0/8", "127.0.0.1"});
    // The client forged 6.6.6.6 on the left; the rightmost untrusted entry is the client.
    EXPECT_EQ(client_address("127.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2", proxies),
              "198.51.100.4");
    EXPECT_EQ(client_address("127.0.0.1", "198.51.100.4", proxies), "198.51.100.4");
}

TEST(ClientAddress, AllHopsTrusted_Leftmost) {
    auto proxies = trusted({"10.0.0.0/8"});
    EXPECT_EQ(client_address("10.0.0.1", "10.0.0.3,10.0.0.2", proxies), "10.0.0.3");
}

TEST(ClientAddress, MalformedEntry_StopsAtLastGoodAddress) {
    auto proxies = trusted({"10.0.0.0/8"});
    EXPECT_EQ(client_address("10.0.0.1", "198.51.100.4, garbage, 10.0.0.2", proxies), "10.0.0.2");
    EXPECT_EQ(client_address("10.0.0.1", "198.51.100.4, 1.2.3.4:80", proxies), "10.0.0.1");
    EXPECT_EQ(client_address("10.0.0.1", "x\ny=1", proxies), "10.0.0.1");
    EXPECT_EQ(client_address("10.0.0.1", "198.51.100.4,,10.0.0.2", proxies), "10.0.0.2");
}

TEST(ClientAddress, Ipv6Chain_Canonical) {
    auto proxies = trusted({"fd00::/8"});
    EXPECT_EQ(client_address("fd00::1", "2001:DB8:0:0::7, fd00::2", proxies), "2001:db8::7");
    EXPECT_EQ(client_address("::ffff:203.0.113.9", "", proxies), "203.0.113.9");
}

TEST(ClientAddress, SeveralHeadersJoined_WalkedAsOneList) {
    auto proxies = trusted({"127.0.0.1"});
    EXPECT_EQ(client_address("127.0.0.1", "192.0.2.1,127.0.0.1", proxies), "192.0.2.1");
}

TEST(ForwardedUrl, TrustedProxy_SchemeHostPrefixPath) {
    auto proxies = trusted({"127.0.0.1"});
    ForwardedHeaders headers{"https", "hooks.example.com", "/webhooks", "127.0.0.1:8080"};
    auto url = forwarded_url("127.0.0.1", headers, "/hooks/sms", proxies);
    ASSERT_TRUE(url.ok()) << url.error().log_text;
    EXPECT_EQ(*url, "https://hooks.example.com/webhooks/hooks/sms");
}

TEST(ForwardedUrl, NoForwardedHeaders_HttpAndHostHeader) {
    auto proxies = trusted({"127.0.0.1"});
    auto url = forwarded_url("127.0.0.1", {"", "", "", "internal:8080"}, "/hooks/sms", proxies);
    ASSERT_TRUE(url.ok());
    EXPECT_EQ(*url, "http://internal:8080/hooks/sms");
}

TEST(ForwardedUrl, Lists_LastValueCounts) {
    auto proxies = trusted({"127.0.0.1"});
    ForwardedHeaders headers{"http, HTTPS", "evil.example, hooks.example.com:8443", "/a, /b/", ""};
    auto url = forwarded_url("127.0.0.1", headers, "/hooks/sms", proxies);
    ASSERT_TRUE(url.ok());
    EXPECT_EQ(*url, "https://hooks.example.com:8443/b/hooks/sms");
}

TEST(ForwardedUrl, UntrustedPeer_Refused) {
    auto proxies = trusted({"10.0.0.0/8"});
    ForwardedHeaders headers{"https", "hooks.example.com", "", "hooks.example.com"};
    auto url = forwarded_url("127.0.0.1", headers, "/hooks/sms", proxies);
    ASSERT_FALSE(url.ok());
    EXPECT_EQ(url.error().log_text, "peer is not a trusted proxy");
    EXPECT_FALSE(forwarded_url("127.0.0.1", headers, "/hooks/sms", TrustedProxies{}).ok());
}

TEST(ForwardedUrl, MalformedHeaders_RefusedWithReason) {
    auto proxies = trusted({"::1"});
    struct Case {
        ForwardedHeaders headers;
        std::string reason;
    };
    const std::vector<Case> cases = {
        {{"ftp", "a.example", "", ""}, "malformed X-Forwarded-Proto"},
        {{"https", "a.example/evil", "", ""}, "malformed X-Forwarded-Host"},
        {{"https", "user@a.example", "", ""}, "malformed X-Forwarded-Host"},
        {{"https", "a example", "", ""}, "malformed X-Forwarded-Host"},
        {{"https", "", "", ""}, "malformed or missing Host"},
        {{"https", "a.example", "webhooks", ""}, "malformed X-Forwarded-Prefix"},
        {{"https", "a.example", "/w?x=1", ""}, "malformed X-Forwarded-Prefix"},
        {{"https", "a.example", "/w x", ""}, "malformed X-Forwarded-Prefix"},
    };
    for (const auto& c : cases) {
        auto url = forwarded_url("::1", c.headers, "/hooks/sms", proxies);
        ASSERT_FALSE(url.ok()) << c.reason;
        EXPECT_EQ(url.error().log_text, c.reason);
    }
}

TEST(ForwardedUrl, Ipv6HostAndRootPrefix_Kept) {
    auto proxies = trusted({"::1"});
    auto url = forwarded_url("::1", {"https", "[2001:db8::5]:8443", "/", ""}, "/hooks/x", proxies);
    ASSERT_TRUE(url.ok());
    EXPECT_EQ(*url, "https://[2001:db8::5]:8443/hooks/x");
}

}  // namespace
