#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <hookflow/config/config.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/connectors/rest_client.hpp>

namespace {

namespace asio = boost::asio;
using hookflow::connectors::Registry;
using hookflow::connectors::RestClient;
using hookflow::connectors::StepCall;
using hookflow::connectors::StepResult;
using hookflow::connectors::stripe_form_encode;
using nlohmann::json;

TEST(StripeFormEncode, NestedMetadata_Brackets) {
    json body = {{"metadata", {{"tier", "gold"}, {"order_id", "6735"}}}};
    EXPECT_EQ(stripe_form_encode(body), "metadata[order_id]=6735&metadata[tier]=gold");
}

TEST(StripeFormEncode, Array_Indexed) {
    json body = {{"expand", {"customer", "invoice.subscription"}}};
    EXPECT_EQ(stripe_form_encode(body), "expand[0]=customer&expand[1]=invoice.subscription");
}

TEST(StripeFormEncode, ArrayOfObjects_IndexThenKey) {
    json body = {{"items", {{{"price", "p_1"}, {"quantity", 2}}, {{"price", "p_2"}}}}};
    EXPECT_EQ(stripe_form_encode(body),
              "items[0][price]=p_1&items[0][quantity]=2&items[1][price]=p_2");
}

TEST(StripeFormEncode, Scalars_BooleansNumbersNull) {
    json body = {{"a", true}, {"b", false}, {"c", 42}, {"d", -1.5}, {"e", nullptr}};
    EXPECT_EQ(stripe_form_encode(body), "a=true&b=false&c=42&d=-1.5&e=");
}

TEST(StripeFormEncode, SpecialCharacters_PercentEncoded) {
    json body = {{"description", "a b&c=d/e?f+g~h.i_j-k"}};
    EXPECT_EQ(stripe_form_encode(body), "description=a%20b%26c%3Dd%2Fe%3Ff%2Bg~h.i_j-k");
}

TEST(StripeFormEncode, Unicode_Utf8BytesEncoded) {
    json body = {{"name", "Zoë €"}};
    EXPECT_EQ(stripe_form_encode(body), "name=Zo%C3%AB%20%E2%82%AC");
}

TEST(StripeFormEncode, BracketsInValue_Encoded) {
    json body = {{"metadata", {{"note", "[x]"}}}};
    EXPECT_EQ(stripe_form_encode(body), "metadata[note]=%5Bx%5D");
}

TEST(StripeFormEncode, EmptyObject_EmptyString) {
    EXPECT_EQ(stripe_form_encode(json::object()), "");
    EXPECT_EQ(stripe_form_encode(json{{"metadata", json::object()}}), "");
    EXPECT_EQ(stripe_form_encode(json::array({1, 2})), "");
}

/// Runs one connector call to completion.
StepResult run_call(asio::io_context& ioc,
                    hookflow::connectors::Connector& connector,
                    StepCall step) {
    std::optional<StepResult> out;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> { out = co_await connector.call(step); },
        asio::detached);
    ioc.restart();
    ioc.run();
    return std::move(*out);
}

/// A loopback port nobody listens on: bound, read, released.
std::uint16_t closed_port() {
    asio::io_context probe;
    asio::ip::tcp::acceptor acceptor(probe, {asio::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
}

hookflow::config::ConnectorConfig block(const std::string& name,
                                        const std::string& base_url,
                                        std::map<std::string, hookflow::config::Setting> settings) {
    hookflow::config::ConnectorConfig config;
    config.name = name;
    config.base_url = base_url;
    config.settings = std::move(settings);
    return config;
}

TEST(Redaction, RefusedConnection_RequestRecordedWithoutCredential) {
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    auto base = "http://127.0.0.1:" + std::to_string(closed_port());
    hookflow::config::Config config;
    config.connectors["stripe"] = block("stripe", base, {{"api_key", {"sk_live_SECRET123", ""}}});
    auto registry = Registry::build(config, client);
    ASSERT_TRUE(registry.ok());
    StepCall step{"run_9", "charge", "request", 1, {}};
    // The key echoed into a query value must be scrubbed too.
    step.with = {{"method", "POST"},
                 {"path", "/v1/charges"},
                 {"query", {{"echo", "sk_live_SECRET123"}}},
                 {"body", {{"description", "key sk_live_SECRET123 here"}}}};

    auto result = run_call(ioc, *(*registry)->find("stripe"), step);

    EXPECT_FALSE(result.ok);
    EXPECT_TRUE(result.retryable);
    EXPECT_EQ(result.http_status, 0);
    EXPECT_TRUE(result.error.find("connection refused") != std::string::npos) << result.error;
    EXPECT_EQ(result.request["method"], "POST");
    EXPECT_EQ(result.request["url"], base + "/v1/charges?echo=***");
    EXPECT_EQ(result.request["headers"]["Authorization"], "***");
    EXPECT_EQ(result.request["headers"]["Idempotency-Key"], "run_9-charge");
    EXPECT_EQ(result.request["body"], "description=key%20***%20here");
    EXPECT_EQ(result.request.dump().find("SECRET123"), std::string::npos);
    EXPECT_EQ(result.error.find("SECRET123"), std::string::npos);
}

TEST(Redaction, HttpConnectorApiKeyHeader_Masked) {
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    auto registry = Registry::build(hookflow::config::Config{}, client);
    ASSERT_TRUE(registry.ok());
    StepCall step{"run_1", "hook", "request", 1, {}};
    step.with = {{"url", "http://127.0.0.1:" + std::to_string(closed_port()) + "/x"},
                 {"headers", {{"X-Api-Key", "abc"}, {"X-Trace", "t1"}}}};

    auto result = run_call(ioc, *(*registry)->find("http"), step);

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.request["headers"]["X-Api-Key"], "***");
    EXPECT_EQ(result.request["headers"]["X-Trace"], "t1");
    EXPECT_TRUE(result.request["body"].is_null());
}

TEST(Registry, NoConfig_HttpOnly) {
    asio::io_context ioc;
    RestClient client(ioc.get_executor());

    auto registry = Registry::build(hookflow::config::Config{}, client);

    ASSERT_TRUE(registry.ok());
    EXPECT_EQ((*registry)->names(), std::vector<std::string>{"http"});
    EXPECT_TRUE((*registry)->find("http")->has_action("request"));
    EXPECT_FALSE((*registry)->find("http")->has_action("post"));
    EXPECT_EQ((*registry)->find("stripe"), nullptr);
}

TEST(Registry, TypeDefaultsToNameAndCanBeSet) {
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    hookflow::config::Config config;
    config.connectors["slack"] = block("slack", "http://127.0.0.1:1", {});
    config.connectors["hubspot"] = block("hubspot", "http://127.0.0.1:1", {});
    config.connectors["hubspot"].type = "crm";

    auto registry = Registry::build(config, client);

    ASSERT_TRUE(registry.ok());
    EXPECT_EQ((*registry)->names(), (std::vector<std::string>{"http", "hubspot", "slack"}));
    EXPECT_TRUE((*registry)->find("slack")->has_action("post"));
    EXPECT_TRUE((*registry)->find("hubspot")->has_action("request"));
}

TEST(Registry, UnknownType_InvalidConfig) {
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    hookflow::config::Config config;
    config.connectors["mailer"] = block("mailer", "http://127.0.0.1:1", {});

    auto registry = Registry::build(config, client);

    ASSERT_FALSE(registry.ok());
    EXPECT_EQ(registry.error().code, hookflow::Errc::invalid_config);
    EXPECT_EQ(registry.error().log_text, "connector mailer: unknown type mailer");
}

TEST(Credentials, AbsentOrUnset_StepFailsNamingWhatIsMissing) {
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    hookflow::config::Config config;
    config.connectors["stripe"] = block("stripe", "http://127.0.0.1:1", {});
    config.connectors["slack"] =
        block("slack", "http://127.0.0.1:1", {{"token", {"", "SLACK_BOT_TOKEN"}}});
    config.connectors["llm"] =
        block("llm", "http://127.0.0.1:1", {{"api_key", {"", "OPENAI_API_KEY"}}});
    auto registry = Registry::build(config, client);
    ASSERT_TRUE(registry.ok());

    auto stripe =
        run_call(ioc, *(*registry)->find("stripe"), {"r", "s", "request", 1, {{"path", "/v1/x"}}});
    auto slack =
        run_call(ioc, *(*registry)->find("slack"), {"r", "s", "post", 1, {{"channel", "c"}}});
    auto llm = run_call(ioc, *(*registry)->find("llm"), {"r", "s", "chat", 1, {{"prompt", "hi"}}});

    EXPECT_EQ(stripe.error, "connector stripe: api_key is not set");
    EXPECT_EQ(slack.error, "connector slack: SLACK_BOT_TOKEN is not set");
    EXPECT_EQ(llm.error, "connector llm: OPENAI_API_KEY is not set");
    for (const auto* result : {&stripe, &slack, &llm}) {
        EXPECT_FALSE(result->ok);
        EXPECT_FALSE(result->retryable);
        EXPECT_TRUE(result->request.is_null());
    }
    EXPECT_EQ(client.connections_opened(), 0u);
}

TEST(Actions, UnknownAction_Fails) {
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    auto registry = Registry::build(hookflow::config::Config{}, client);
    ASSERT_TRUE(registry.ok());

    auto result = run_call(ioc, *(*registry)->find("http"), {"r", "s", "fetch", 1, {}});

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.error, "connector http has no action 'fetch'");
}

TEST(Actions, WrongJsonType_FailsWithoutThrowing) {
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    auto registry = Registry::build(hookflow::config::Config{}, client);
    ASSERT_TRUE(registry.ok());

    auto result =
        run_call(ioc, *(*registry)->find("http"), {"r", "s", "request", 1, {{"url", 42}}});

    EXPECT_FALSE(result.ok);
    EXPECT_FALSE(result.retryable);
    EXPECT_TRUE(result.error.starts_with("http.request: ")) << result.error;
}

}  // namespace
