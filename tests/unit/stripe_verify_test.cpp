#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <hookflow/common/crypto.hpp>
#include <hookflow/verify/stripe.hpp>
#include <hookflow/verify/verifier.hpp>

namespace {

using hookflow::Errc;
using hookflow::Headers;
using hookflow::verify::stripe_signature;
using hookflow::verify::verify_stripe;

constexpr const char* kSecret = "whsec_test_secret_for_unit_tests";
constexpr std::int64_t kNow = 1700000000;

nlohmann::json load_cases() {
    std::ifstream file(std::string(HOOKFLOW_FIXTURES) + "/signatures/stripe.json");
    std::stringstream text;
    text << file.rdbuf();
    return nlohmann::json::parse(text.str());
}

Headers headers_of(const nlohmann::json& object) {
    Headers out;
    for (const auto& [name, value] : object.items()) {
        out.emplace_back(name, value.get<std::string>());
    }
    return out;
}

/// The hex MAC a header's v1 would need to carry.
std::string expected_hex(const std::string& secret, const std::string& body, std::int64_t t) {
    return hookflow::to_hex(hookflow::hmac_sha256(secret, std::to_string(t) + "." + body));
}

/// Edge case E1 of the shared fixtures: pretty JSON with non-ASCII, an escaped U+2028 and a
/// number written `1.50`, byte-exact (226 bytes).
std::string e1_body() {
    return "{\n"
           "  \"id\": \"evt_FAKE0001\",\n"
           "  \"object\": \"event\",\n"
           "  \"type\": \"customer.updated\",\n"
           "  \"data\": {\n"
           "    \"object\": {\n"
           "      \"id\": \"cus_FAKE0001\",\n"
           "      \"name\": \"Zo\xc3\xab \xf0\x9f\x98\x80\",\n"
           "      \"description\": \"a\\u2028b\",\n"
           "      \"amount\": 1.50\n"
           "    }\n"
           "  }\n"
           "}\n";
}

std::string reason_of(const hookflow::Result<void>& result) {
    return result.ok() ? "accepted" : result.error().public_text;
}

TEST(StripeVerify, FixtureCases_MatchExpect) {
    auto cases = load_cases();
    ASSERT_EQ(cases.size(), 12u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.at("name").get<std::string>());
        auto body = hookflow::from_base64(c.at("body_b64").get<std::string>());
        ASSERT_TRUE(body.has_value());
        auto result = verify_stripe(headers_of(c.at("headers")),
                                    *body,
                                    {c.at("secret").get<std::string>()},
                                    c.at("tolerance_s").get<int>(),
                                    c.at("now").get<std::int64_t>());
        bool expect_valid = c.at("expect") == "valid";
        EXPECT_EQ(result.ok(), expect_valid) << reason_of(result);
        if (!result.ok()) {
            EXPECT_EQ(result.error().code, Errc::unauthorized);
        }
    }
}

TEST(StripeVerify, E1NonCanonicalJsonBody_VerifiedByteExact) {
    auto body = e1_body();
    ASSERT_EQ(body.size(), 226u);
    EXPECT_EQ(hookflow::to_hex(hookflow::sha256(body)),
              "aa7c62d7e2d5ed6dd431497ed469e21e04c98475bc2f1208fd3b4cf906a60baa");
    Headers headers{
        {"Stripe-Signature",
         "t=1700000000,v1=83b13908f3dd09352b9369cfc4e7eab4552eaa48edb82949061524714805d84f"}};
    std::vector<std::string> secrets{"whsec_FAKEnew000000000000000000000000"};

    EXPECT_EQ(reason_of(verify_stripe(headers, body, secrets, 300, 1700000000)), "accepted");

    auto compact = nlohmann::json::parse(body).dump();
    ASSERT_NE(compact, body);
    EXPECT_EQ(reason_of(verify_stripe(headers, compact, secrets, 300, 1700000000)),
              "no signature matched");
}

TEST(StripeVerify, DuplicateTimestamp_Malformed) {
    std::string body = R"({"id":"evt_1"})";
    auto v1 = expected_hex(kSecret, body, kNow);
    Headers headers{{"Stripe-Signature", "t=1700000000,t=1700000000,v1=" + v1}};
    EXPECT_EQ(reason_of(verify_stripe(headers, body, {kSecret}, 300, kNow)),
              "malformed signature header");
}

TEST(StripeVerify, BadTimestampText_Malformed) {
    std::string body = "{}";
    auto v1 = expected_hex(kSecret, body, kNow);
    for (std::string t :
         {"", "17e8", "-1700000000", " 1700000000", "0x10", "9999999999999999999"}) {
        SCOPED_TRACE(t);
        Headers headers{{"Stripe-Signature", "t=" + t + ",v1=" + v1}};
        EXPECT_EQ(reason_of(verify_stripe(headers, body, {kSecret}, 300, kNow)),
                  "malformed signature header");
    }
    Headers no_t{{"Stripe-Signature", "v1=" + v1}};
    EXPECT_EQ(reason_of(verify_stripe(no_t, body, {kSecret}, 300, kNow)),
              "malformed signature header");
}

TEST(StripeVerify, TwoSignatureHeaders_Malformed) {
    std::string body = "{}";
    auto value = stripe_signature(kSecret, body, kNow);
    Headers headers{{"Stripe-Signature", value}, {"stripe-signature", value}};
    EXPECT_EQ(reason_of(verify_stripe(headers, body, {kSecret}, 300, kNow)),
              "malformed signature header");
}

TEST(StripeVerify, MissingHeaderOrSecret_FixedReasons) {
    EXPECT_EQ(reason_of(verify_stripe({}, "{}", {kSecret}, 300, kNow)), "missing signature header");
    Headers headers{{"Stripe-Signature", stripe_signature(kSecret, "{}", kNow)}};
    EXPECT_EQ(reason_of(verify_stripe(headers, "{}", {}, 300, kNow)), "no secret configured");
}

TEST(StripeVerify, LowercaseHeaderName_Accepted) {
    Headers headers{{"stripe-signature", stripe_signature(kSecret, "{}", kNow)}};
    EXPECT_TRUE(verify_stripe(headers, "{}", {kSecret}, 300, kNow).ok());
}

TEST(StripeVerify, AgeAtToleranceEdge_PassesThenFails) {
    Headers headers{{"Stripe-Signature", stripe_signature(kSecret, "{}", kNow)}};
    EXPECT_TRUE(verify_stripe(headers, "{}", {kSecret}, 300, kNow + 300).ok());
    EXPECT_EQ(reason_of(verify_stripe(headers, "{}", {kSecret}, 300, kNow + 301)),
              "timestamp outside tolerance");
    EXPECT_TRUE(verify_stripe(headers, "{}", {kSecret}, 0, kNow + 100000).ok());
    EXPECT_TRUE(verify_stripe(headers, "{}", {kSecret}, 300, kNow - 3600).ok());
}

TEST(StripeVerify, RejectionReasons_NeverHoldExpectedSignatureOrSecret) {
    std::string body = R"({"id":"evt_1","type":"x"})";
    auto expected = expected_hex(kSecret, body, kNow);
    std::string wrong(64, 'a');
    const std::string values[] = {
        "t=1700000000,v1=" + wrong,
        "t=1700000000,v1=" + expected.substr(0, 63),
        "t=1700000000,v0=" + expected,
        "t=1700000000,t=1,v1=" + wrong,
        "t=1699990000,v1=" + expected_hex(kSecret, body, 1699990000),
    };
    for (const auto& value : values) {
        SCOPED_TRACE(value);
        auto result = verify_stripe({{"Stripe-Signature", value}}, body, {kSecret}, 300, kNow);
        ASSERT_FALSE(result.ok());
        for (const auto* text : {&result.error().log_text, &result.error().public_text}) {
            EXPECT_EQ(text->find(expected), std::string::npos);
            EXPECT_EQ(text->find(kSecret), std::string::npos);
            EXPECT_EQ(text->find("whsec_"), std::string::npos);
        }
        EXPECT_EQ(result.error().log_text, result.error().public_text);
    }
}

TEST(StripeVerify, TwoSecretsDuringRotation_EitherAccepted) {
    std::string body = R"({"id":"evt_2"})";
    std::vector<std::string> secrets{"whsec_old", "whsec_new"};
    Headers signed_new{{"Stripe-Signature", stripe_signature("whsec_new", body, kNow)}};
    Headers signed_old{{"Stripe-Signature", stripe_signature("whsec_old", body, kNow)}};
    Headers signed_other{{"Stripe-Signature", stripe_signature("whsec_other", body, kNow)}};
    EXPECT_TRUE(verify_stripe(signed_new, body, secrets, 300, kNow).ok());
    EXPECT_TRUE(verify_stripe(signed_old, body, secrets, 300, kNow).ok());
    EXPECT_EQ(reason_of(verify_stripe(signed_other, body, secrets, 300, kNow)),
              "no signature matched");

    Headers both{{"Stripe-Signature",
                  "t=1700000000,v1=" + expected_hex("whsec_other", body, kNow) +
                      ",v1=" + expected_hex("whsec_new", body, kNow)}};
    EXPECT_TRUE(verify_stripe(both, body, secrets, 300, kNow).ok());
}

TEST(StripeVerify, SignatureFormat_IsTimestampAndV1Hex) {
    EXPECT_EQ(stripe_signature(kSecret, "{}", kNow),
              "t=1700000000,v1=" + expected_hex(kSecret, "{}", kNow));
}

hookflow::config::SourceConfig stripe_source(std::vector<std::string> secrets) {
    hookflow::config::SourceConfig source;
    source.name = "payments";
    source.provider = "stripe";
    source.secrets = std::move(secrets);
    source.tolerance_seconds = 300;
    return source;
}

TEST(StripeVerifier, SignThenVerify_RoundTrips) {
    auto verifier = hookflow::verify::make_verifier(stripe_source({"whsec_a", "whsec_b"}));
    ASSERT_TRUE(verifier.ok());
    EXPECT_EQ((*verifier)->provider(), "stripe");
    std::string body = R"({"id":"evt_9","type":"invoice.paid"})";

    auto headers = (*verifier)->sign(body, kNow);
    ASSERT_TRUE(headers.ok());
    ASSERT_EQ(headers->size(), 1u);
    EXPECT_EQ(headers->at(0).first, "Stripe-Signature");
    EXPECT_EQ(headers->at(0).second, stripe_signature("whsec_a", body, kNow));

    hookflow::verify::Delivery delivery{*headers, body, "/hooks/payments", kNow + 10};
    EXPECT_TRUE((*verifier)->verify(delivery).ok());
    hookflow::verify::Delivery late{*headers, body, "/hooks/payments", kNow + 301};
    EXPECT_EQ(reason_of((*verifier)->verify(late)), "timestamp outside tolerance");
}

TEST(StripeVerifier, Identify_TakesIdAndType) {
    auto verifier = hookflow::verify::make_verifier(stripe_source({"whsec_a"}));
    ASSERT_TRUE(verifier.ok());
    Headers headers;
    hookflow::verify::Delivery delivery{headers, "", "/hooks/payments", kNow};

    auto identity = (*verifier)->identify(
        delivery, nlohmann::json{{"id", "evt_1"}, {"type", "invoice.payment_failed"}});
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, "evt_1");
    EXPECT_EQ(identity->type, "invoice.payment_failed");

    auto no_id = (*verifier)->identify(delivery, nlohmann::json{{"id", 5}, {"type", "x"}});
    ASSERT_FALSE(no_id.ok());
    EXPECT_EQ(no_id.error().code, Errc::bad_request);
    EXPECT_EQ(no_id.error().public_text, "body has no event id");

    auto no_type = (*verifier)->identify(delivery, nlohmann::json{{"id", "evt_1"}});
    ASSERT_FALSE(no_type.ok());
    EXPECT_EQ(no_type.error().code, Errc::bad_request);
    EXPECT_EQ(no_type.error().public_text, "body has no event type");

    auto not_object = (*verifier)->identify(delivery, nlohmann::json::array());
    ASSERT_FALSE(not_object.ok());
    EXPECT_EQ(not_object.error().public_text, "body has no event id");
}

TEST(StripeVerifier, SourceWithoutSecret_RejectsEverything) {
    auto source = stripe_source({});
    source.missing_vars = {"STRIPE_WEBHOOK_SECRET"};
    auto verifier = hookflow::verify::make_verifier(source);
    ASSERT_TRUE(verifier.ok());
    std::string body = "{}";
    Headers headers{{"Stripe-Signature", stripe_signature("", body, kNow)}};
    hookflow::verify::Delivery delivery{headers, body, "/hooks/payments", kNow};

    auto result = (*verifier)->verify(delivery);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, Errc::unauthorized);
    EXPECT_EQ(result.error().public_text, "no secret configured");

    auto signed_headers = (*verifier)->sign(body, kNow);
    ASSERT_FALSE(signed_headers.ok());
    EXPECT_EQ(signed_headers.error().code, Errc::invalid_config);
}

TEST(StripeVerifier, UnknownProvider_InvalidConfig) {
    auto source = stripe_source({"whsec_a"});
    source.provider = "paypal";
    auto verifier = hookflow::verify::make_verifier(source);
    ASSERT_FALSE(verifier.ok());
    EXPECT_EQ(verifier.error().code, Errc::invalid_config);
    EXPECT_EQ(verifier.error().log_text, "source payments: unknown provider paypal");
}

}  // namespace
