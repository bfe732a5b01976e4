// Pure logic of the connectors: proxy selection, NO_PROXY matching, the token bucket,
// transport settings and which config keys count as credentials.

#include <chrono>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "../../src/connectors/connector_base.hpp"
#include <hookflow/config/config.hpp>
#include <hookflow/connectors/rest_client.hpp>

namespace {

using hookflow::connectors::no_proxy_matches;
using hookflow::connectors::parse_proxy_url;
using hookflow::connectors::proxy_for;
using hookflow::connectors::ProxySettings;
using hookflow::connectors::read_connector_settings;
using hookflow::connectors::secret_key;
using hookflow::connectors::TokenBucket;
using namespace std::chrono_literals;

TEST(NoProxy, ExactHostSuffixWildcardAndPort) {
    EXPECT_TRUE(no_proxy_matches("localhost", "80", "localhost"));
    EXPECT_TRUE(no_proxy_matches("api.example.com", "443", "example.com"));
    EXPECT_TRUE(no_proxy_matches("api.example.com", "443", ".example.com"));
    EXPECT_TRUE(no_proxy_matches("API.Example.COM", "443", " foo.test , .example.com"));
    EXPECT_FALSE(no_proxy_matches("badexample.com", "443", "example.com"));
    EXPECT_TRUE(no_proxy_matches("anything", "1", "*"));
    EXPECT_TRUE(no_proxy_matches("127.0.0.1", "8443", "127.0.0.1:8443"));
    EXPECT_FALSE(no_proxy_matches("127.0.0.1", "9000", "127.0.0.1:8443"));
    EXPECT_TRUE(no_proxy_matches("::1", "443", "[::1]"));
    EXPECT_FALSE(no_proxy_matches("example.org", "443", ""));
    EXPECT_FALSE(no_proxy_matches("example.org", "443", ",,"));
}

TEST(ProxyFor, SchemePicksProxyAndNoProxyBypasses) {
    ProxySettings settings{"http://p1:3128", "http://p2:3128", "internal.test,127.0.0.1"};
    EXPECT_EQ(proxy_for("https://api.stripe.com/v1/x", settings), "http://p2:3128");
    EXPECT_EQ(proxy_for("http://api.example.com/", settings), "http://p1:3128");
    EXPECT_EQ(proxy_for("https://crm.internal.test/a", settings), "");
    EXPECT_EQ(proxy_for("http://127.0.0.1:8080/a", settings), "");
    EXPECT_EQ(proxy_for("https://api.stripe.com", ProxySettings{"http://p1:3128", "", ""}), "");
}

TEST(ProxySettingsFromEnv, LowercaseWinsOverUppercase) {
    ::setenv("HTTPS_PROXY", "http://upper:1", 1);
    ::setenv("https_proxy", "http://lower:2", 1);
    ::setenv("HTTP_PROXY", "http://plain:3", 1);
    ::unsetenv("http_proxy");
    ::setenv("NO_PROXY", "localhost", 1);
    ::unsetenv("no_proxy");
    auto settings = ProxySettings::from_env();
    EXPECT_EQ(settings.https_proxy, "http://lower:2");
    EXPECT_EQ(settings.http_proxy, "http://plain:3");
    EXPECT_EQ(settings.no_proxy, "localhost");
    for (const char* name : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "NO_PROXY"}) {
        ::unsetenv(name);
    }
    EXPECT_EQ(ProxySettings::from_env().https_proxy, "");
}

TEST(ParseProxyUrl, CredentialsBecomeBasicAuthorization) {
    auto proxy = parse_proxy_url("http://alice:s3cret@proxy.test:3128/");
    ASSERT_TRUE(proxy.ok()) << proxy.error().log_text;
    EXPECT_EQ(proxy->host, "proxy.test");
    EXPECT_EQ(proxy->port, "3128");
    EXPECT_EQ(proxy->authorization, "Basic YWxpY2U6czNjcmV0");  // base64("alice:s3cret")
    EXPECT_EQ(proxy->password, "s3cret");

    auto bare = parse_proxy_url("127.0.0.1:8888");
    ASSERT_TRUE(bare.ok());
    EXPECT_EQ(bare->host, "127.0.0.1");
    EXPECT_EQ(bare->port, "8888");
    EXPECT_EQ(bare->authorization, "");

    auto tls = parse_proxy_url("https://proxy.test:443");
    ASSERT_FALSE(tls.ok());
    EXPECT_EQ(tls.error().log_text, "proxy: only http:// proxy URLs are supported");
    EXPECT_FALSE(parse_proxy_url("http://proxy.test:port").ok());
}

TEST(TokenBucket, BurstThenSpacedByRate) {
    TokenBucket bucket(2.0, 3.0);  // 2 a second, 3 saved up
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(bucket.reserve(t0), 0ms);
    EXPECT_EQ(bucket.reserve(t0), 0ms);
    EXPECT_EQ(bucket.reserve(t0), 0ms);
    EXPECT_EQ(bucket.reserve(t0), 500ms);   // the 4th waits for one token
    EXPECT_EQ(bucket.reserve(t0), 1000ms);  // the 5th queues behind it
    // Two seconds later the deficit of 2 is repaid and 2 more tokens have come in.
    EXPECT_EQ(bucket.reserve(t0 + 2000ms), 0ms);
    EXPECT_EQ(bucket.reserve(t0 + 2000ms), 0ms);
    EXPECT_EQ(bucket.reserve(t0 + 2000ms), 500ms);
}

TEST(TokenBucket, SavesNoMoreThanBurst) {
    TokenBucket bucket(10.0, 1.0);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(bucket.reserve(t0 + 60s), 0ms);
    EXPECT_EQ(bucket.reserve(t0 + 60s), 100ms);
}

hookflow::config::ConnectorConfig block(std::map<std::string, hookflow::config::Setting> settings) {
    hookflow::config::ConnectorConfig config;
    config.name = "slack";
    config.settings = std::move(settings);
    return config;
}

TEST(ConnectorSettings, DefaultsAndValues) {
    auto defaults = read_connector_settings(block({}));
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults->max_connections, 8u);
    EXPECT_EQ(defaults->connect_timeout, 10000ms);
    EXPECT_EQ(defaults->idle_timeout, 50000ms);
    EXPECT_FALSE(defaults->follow_redirects);
    EXPECT_EQ(defaults->rate_per_second, 0.0);
    EXPECT_FALSE(defaults->proxy.has_value());

    auto set = read_connector_settings(block({{"connect_timeout", {"2.5", ""}},
                                              {"max_connections", {"2", ""}},
                                              {"idle_timeout", {"5", ""}},
                                              {"rate_limit.per_second", {"1", ""}},
                                              {"rate_limit.burst", {"5", ""}},
                                              {"follow_redirects", {"true", ""}},
                                              {"proxy", {"none", ""}}}));
    ASSERT_TRUE(set.ok()) << set.error().log_text;
    EXPECT_EQ(set->connect_timeout, 2500ms);
    EXPECT_EQ(set->max_connections, 2u);
    EXPECT_EQ(set->idle_timeout, 5000ms);
    EXPECT_EQ(set->rate_per_second, 1.0);
    EXPECT_EQ(set->rate_burst, 5.0);
    EXPECT_TRUE(set->follow_redirects);
    EXPECT_EQ(set->proxy, std::string());
}

TEST(ConnectorSettings, BadValues_NameTheKey) {
    auto zero = read_connector_settings(block({{"max_connections", {"0", ""}}}));
    ASSERT_FALSE(zero.ok());
    EXPECT_EQ(zero.error().log_text,
              "connectors.slack.max_connections: expected a positive number, got '0'");
    auto word = read_connector_settings(block({{"rate_limit.per_second", {"fast", ""}}}));
    ASSERT_FALSE(word.ok());
    EXPECT_EQ(word.error().log_text,
              "connectors.slack.rate_limit.per_second: expected a positive number, got 'fast'");
    auto flag = read_connector_settings(block({{"follow_redirects", {"yes", ""}}}));
    ASSERT_FALSE(flag.ok());
    EXPECT_EQ(flag.error().log_text, "connectors.slack.follow_redirects: expected true or false");
    auto proxy = read_connector_settings(block({{"proxy", {"socks5://p:1080", ""}}}));
    ASSERT_FALSE(proxy.ok());
    EXPECT_EQ(proxy.error().log_text,
              "connectors.slack.proxy: only http:// proxy URLs are supported");
}

TEST(SecretKey, CredentialWordsOnly) {
    for (const char* key :
         {"api_key", "token", "bot_token", "signing_secret", "password", "webhook_url", "apikey"}) {
        EXPECT_TRUE(secret_key(key)) << key;
    }
    for (const char* key : {"max_tokens", "model", "flavor", "auth_header", "keyboard"}) {
        EXPECT_FALSE(secret_key(key)) << key;
    }
}

}  // namespace
