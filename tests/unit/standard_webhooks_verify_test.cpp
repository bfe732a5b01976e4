#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "verify_test_support.hpp"

namespace {

using namespace verify_test;

constexpr std::int64_t kNow = 1767225600;
const std::string kBody = R"({"type":"invoice.paid","data":{"id":"inv_1"}})";
const std::string kSecret = "whsec_" + hookflow::to_base64("0123456789abcdef0123456789abcdef");

/// A source with an Ed25519 key pair made from a fixed seed.
SourceConfig keypair_source(const std::string& seed_text) {
    auto seed = hookflow::sha256(seed_text);
    auto source = source_for("standard", {});
    source.public_keys.push_back("whpk_" +
                                 hookflow::to_base64(*hookflow::ed25519_public_key(seed)));
    source.signing_key = "whsk_" + hookflow::to_base64(seed);
    return source;
}

TEST(StandardVerify, FixtureCases_MatchExpect) {
    auto reasons = expect_fixture_cases("standard_webhooks.json", 13, plain_setup("standard"));
    EXPECT_EQ(reasons["invalid_timestamp_too_old"], "timestamp outside tolerance");
    EXPECT_EQ(reasons["invalid_timestamp_too_new"], "timestamp outside tolerance");
    EXPECT_EQ(reasons["invalid_missing_webhook_id"], "missing id header");
    EXPECT_EQ(reasons["invalid_unknown_version_only"], "no signature matched");
    EXPECT_EQ(reasons["invalid_v1a_other_key"], "no signature matched");
}

TEST(StandardVerify, SvixHeaderNames_Accepted) {
    auto signer = make(source_for("standard", {kSecret}));
    auto headers = signer->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    Headers svix;
    for (const auto& [name, value] : *headers) {
        svix.emplace_back("svix-" + name.substr(std::string("webhook-").size()), value);
    }
    EXPECT_EQ(verify_reason(*signer, svix, kBody, kNow), "accepted");
    auto identity =
        signer->identify(Delivery{svix, kBody, "/hooks/test", kNow}, nlohmann::json::parse(kBody));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, hookflow::find_header(svix, "svix-id").value_or("?"));
    EXPECT_EQ(identity->type, "invoice.paid");
}

TEST(StandardVerify, SignThenVerify_AcceptedWithRotatedSecrets) {
    auto signer = make(source_for("standard", {kSecret}));
    auto headers = signer->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    auto id = std::string(hookflow::find_header(*headers, "webhook-id").value_or(""));
    auto key = *hookflow::from_base64(kSecret.substr(6));
    EXPECT_EQ(hookflow::find_header(*headers, "webhook-signature").value_or(""),
              "v1," + hookflow::to_base64(hookflow::hmac_sha256(key, id + ".1767225600." + kBody)));

    auto other = "whsec_" + hookflow::to_base64("another key of some length");
    auto rotated = make(source_for("standard", {other, kSecret}));
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow - 300), "accepted");
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow + 301), "timestamp outside tolerance");
    auto wrong = make(source_for("standard", {other}));
    EXPECT_EQ(verify_reason(*wrong, *headers, kBody, kNow), "no signature matched");
}

TEST(StandardVerify, SignV1aThenVerify_AcceptedOnlyWithTrustedKey) {
    auto source = keypair_source("signer seed");
    auto signer = make(source);
    auto headers = signer->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    EXPECT_TRUE(std::string(hookflow::find_header(*headers, "webhook-signature").value_or(""))
                    .starts_with("v1a,"));
    EXPECT_EQ(verify_reason(*signer, *headers, kBody, kNow), "accepted");

    auto other = keypair_source("other seed");
    auto untrusting = make(other);
    EXPECT_EQ(verify_reason(*untrusting, *headers, kBody, kNow), "no signature matched");
    other.public_keys.push_back(source.public_keys.front());
    auto rotated = make(other);
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow), "accepted");
}

TEST(StandardVerify, SecretNotBase64_InvalidConfig) {
    auto result = hookflow::verify::make_verifier(source_for("standard", {"whsec_not base64!"}));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, hookflow::Errc::invalid_config);
    EXPECT_EQ(result.error().log_text.find("not base64!"), std::string::npos);
}

TEST(StandardVerify, MalformedTimestamp_Rejected) {
    auto verifier = make(source_for("standard", {kSecret}));
    Headers headers{
        {"webhook-id", "msg_1"}, {"webhook-timestamp", "17e8"}, {"webhook-signature", "v1,AAAA"}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "malformed timestamp header");
}

}  // namespace
