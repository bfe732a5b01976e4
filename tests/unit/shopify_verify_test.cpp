#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "verify_test_support.hpp"

namespace {

using namespace verify_test;

constexpr std::int64_t kNow = 1767225600;
const std::string kBody = R"({"id":820982911946154500,"email":"jenny.rosen@example.com"})";

TEST(ShopifyVerify, FixtureCases_MatchExpect) {
    auto reasons = expect_fixture_cases("shopify.json", 8, plain_setup("shopify"));
    EXPECT_EQ(reasons["invalid_missing_topic_header"], "missing topic header");
    EXPECT_EQ(reasons["invalid_missing_hmac_header"], "missing signature header");
    EXPECT_EQ(reasons["invalid_wrong_secret"], "no signature matched");
}

TEST(ShopifyVerify, SignThenVerify_AcceptedWithRotatedSecrets) {
    auto signer = make(source_for("shopify", {"old"}));
    auto headers = signer->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    EXPECT_EQ(hookflow::find_header(*headers, "X-Shopify-Hmac-Sha256").value_or(""),
              hookflow::to_base64(hookflow::hmac_sha256("old", kBody)));
    headers->emplace_back("X-Shopify-Topic", "orders/create");

    auto rotated = make(source_for("shopify", {"new", "old"}));
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow), "accepted");
    auto other = make(source_for("shopify", {"new"}));
    EXPECT_EQ(verify_reason(*other, *headers, kBody, kNow), "no signature matched");
}

TEST(ShopifyVerify, HexDigest_NotMatched) {
    auto verifier = make(source_for("shopify", {"s"}));
    Headers headers{{"X-Shopify-Hmac-Sha256", hookflow::to_hex(hookflow::hmac_sha256("s", kBody))},
                    {"X-Shopify-Topic", "orders/create"}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "no signature matched");
}

TEST(ShopifyVerify, Identify_WebhookIdAndTopic) {
    auto verifier = make(source_for("shopify", {"s"}));
    Headers classic{{"X-Shopify-Webhook-Id", "b54557e4"}, {"X-Shopify-Topic", "orders/create"}};
    auto identity = verifier->identify(Delivery{classic, kBody, "/hooks/test", kNow},
                                       nlohmann::json::parse(kBody));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, "b54557e4");
    EXPECT_EQ(identity->type, "orders/create");

    Headers events{{"shopify-webhook-id", "e1"}, {"shopify-topic", "products/update"}};
    auto events_identity = verifier->identify(Delivery{events, kBody, "/hooks/test", kNow},
                                              nlohmann::json::parse(kBody));
    ASSERT_TRUE(events_identity.ok());
    EXPECT_EQ(events_identity->delivery_id, "e1");
    EXPECT_EQ(events_identity->type, "products/update");
}

}  // namespace
