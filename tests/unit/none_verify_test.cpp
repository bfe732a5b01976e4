#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "verify_test_support.hpp"

namespace {

using namespace verify_test;

TEST(NoneVerify, AnyDelivery_AcceptedWithBodyHashId) {
    auto source = source_for("none", {});
    auto verifier = make(source);
    ASSERT_TRUE(hookflow::verify::has_credentials(source));
    Headers headers;
    std::string body = R"({"anything":true})";
    EXPECT_EQ(verify_reason(*verifier, headers, body, 0), "accepted");
    auto identity =
        verifier->identify(Delivery{headers, body, "/hooks/test", 0}, nlohmann::json::parse(body));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, hookflow::to_hex(hookflow::sha256(body)));
    EXPECT_EQ(identity->type, "none.request");
}

TEST(NoneVerify, ConfiguredEventType_Used) {
    auto source = source_for("none", {});
    source.event_type = "form.submitted";
    Headers headers;
    auto items =
        make(source)->split(Delivery{headers, "{}", "/hooks/test", 0}, nlohmann::json::object());
    ASSERT_TRUE(items.ok());
    ASSERT_EQ(items->size(), 1u);
    EXPECT_EQ(items->front().type, "form.submitted");
    EXPECT_EQ(items->front().body, nlohmann::json::object());
}

TEST(MakeVerifier, UnknownProvider_InvalidConfig) {
    auto result = hookflow::verify::make_verifier(source_for("nonesuch", {"s"}));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, hookflow::Errc::invalid_config);
    EXPECT_EQ(result.error().log_text, "source test: unknown provider nonesuch");
}

TEST(MakeVerifier, EveryProviderName_Known) {
    for (std::string provider :
         {"stripe", "github", "slack", "standard", "shopify", "sendgrid", "twilio", "none"}) {
        SCOPED_TRACE(provider);
        auto result = hookflow::verify::make_verifier(source_for(provider, {}));
        ASSERT_TRUE(result.ok());
        EXPECT_EQ((*result)->provider(), provider);
    }
}

}  // namespace
