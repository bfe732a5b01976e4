#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "verify_test_support.hpp"

namespace {

using namespace verify_test;

constexpr std::int64_t kNow = 1767225600;
const std::string kBody =
    R"({"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention"}})";

std::string signature(const std::string& secret, std::int64_t t, const std::string& body) {
    return "v0=" +
           hookflow::to_hex(hookflow::hmac_sha256(secret, "v0:" + std::to_string(t) + ":" + body));
}

TEST(SlackVerify, FixtureCases_MatchExpect) {
    auto reasons = expect_fixture_cases("slack.json", 11, plain_setup("slack"));
    EXPECT_EQ(reasons["invalid_timestamp_too_old"], "timestamp outside tolerance");
    EXPECT_EQ(reasons["invalid_timestamp_far_future"], "timestamp outside tolerance");
    EXPECT_EQ(reasons["invalid_missing_signature"], "missing signature header");
    EXPECT_EQ(reasons["invalid_wrong_secret"], "no signature matched");
}

TEST(SlackVerify, SignThenVerify_AcceptedWithRotatedSecrets) {
    auto signer = make(source_for("slack", {"old"}));
    auto headers = signer->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    EXPECT_EQ(hookflow::find_header(*headers, "X-Slack-Signature").value_or(""),
              signature("old", kNow, kBody));
    EXPECT_EQ(hookflow::find_header(*headers, "X-Slack-Request-Timestamp").value_or(""),
              "1767225600");

    auto rotated = make(source_for("slack", {"new", "old"}));
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow + 300), "accepted");
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow - 300), "accepted");
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow + 301), "timestamp outside tolerance");
}

TEST(SlackVerify, OtherVersion_Malformed) {
    auto verifier = make(source_for("slack", {"s"}));
    auto v0 = signature("s", kNow, kBody);
    Headers headers{{"X-Slack-Signature", "v1=" + v0.substr(3)},
                    {"X-Slack-Request-Timestamp", std::to_string(kNow)}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "malformed signature header");
}

TEST(SlackVerify, MissingTimestamp_Rejected) {
    auto verifier = make(source_for("slack", {"s"}));
    Headers headers{{"X-Slack-Signature", signature("s", kNow, kBody)}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "missing timestamp header");
}

TEST(SlackVerify, Identify_EventIdAndInnerType) {
    auto verifier = make(source_for("slack", {"s"}));
    Headers headers;
    auto identity = verifier->identify(Delivery{headers, kBody, "/hooks/test", kNow},
                                       nlohmann::json::parse(kBody));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, "Ev08MFMKH6");
    EXPECT_EQ(identity->type, "app_mention");
}

TEST(SlackVerify, IdentifyUrlVerification_TopLevelTypeAndBodyHash) {
    auto verifier = make(source_for("slack", {"s"}));
    Headers headers;
    std::string body = R"({"token":"t","challenge":"c","type":"url_verification"})";
    auto identity = verifier->identify(Delivery{headers, body, "/hooks/test", kNow},
                                       nlohmann::json::parse(body));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->type, "url_verification");
    EXPECT_EQ(identity->delivery_id, hookflow::to_hex(hookflow::sha256(body)));
}

TEST(SlackVerify, IdentifySlashCommandForm_SlashCommand) {
    auto verifier = make(source_for("slack", {"s"}));
    Headers headers;
    std::string body = "command=%2Fweather&text=94070&user_id=U1";
    auto identity = verifier->identify(Delivery{headers, body, "/hooks/test", kNow},
                                       hookflow::verify::form_to_json(body));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->type, "slash_command");
}

TEST(FormToJson, RepeatedAndEncoded_Decoded) {
    auto json = hookflow::verify::form_to_json("a=1&b=x+y%21&a=2&c&=e&d=%ZZ");
    EXPECT_EQ(json.dump(), R"({"":"e","a":["1","2"],"b":"x y!","c":"","d":"%ZZ"})");
}

}  // namespace
