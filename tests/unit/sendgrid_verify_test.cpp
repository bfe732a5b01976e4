#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "verify_test_support.hpp"

namespace {

using namespace verify_test;

constexpr std::int64_t kNow = 1767225600;
const std::string kBody =
    "[{\"email\":\"a@example.com\",\"event\":\"processed\",\"sg_event_id\":\"ev1\"},\r\n"
    "{\"email\":\"b@example.com\",\"event\":\"delivered\",\"sg_event_id\":\"ev2\"}]\r\n";

/// A fresh P-256 key pair: the private key as PEM and the public key as bare base64 DER.
struct KeyPair {
    std::string private_pem;
    std::string public_b64;
};

KeyPair generate_key_pair() {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    EXPECT_NE(key, nullptr);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long length = BIO_get_mem_data(bio.get(), &data);
    KeyPair pair{std::string(data, static_cast<std::size_t>(length)), ""};
    int der_length = i2d_PUBKEY(key.get(), nullptr);
    std::string der(static_cast<std::size_t>(der_length), '\0');
    auto* cursor = reinterpret_cast<unsigned char*>(der.data());
    i2d_PUBKEY(key.get(), &cursor);
    pair.public_b64 = hookflow::to_base64(der);
    return pair;
}

TEST(SendgridVerify, FixtureCases_MatchExpect) {
    auto reasons = expect_fixture_cases("sendgrid.json", 9, plain_setup("sendgrid"));
    EXPECT_EQ(reasons["invalid_missing_signature_header"], "missing signature header");
    EXPECT_EQ(reasons["invalid_trailing_crlf_stripped"], "no signature matched");
}

TEST(SendgridVerify, FixtureCasesWithPemKeys_MatchExpect) {
    expect_fixture_cases("sendgrid.json", 9, [](const nlohmann::json& c) {
        auto source = source_for("sendgrid", {});
        source.public_keys.push_back(c.at("public_key_pem").get<std::string>());
        return CaseSetup{source};
    });
}

TEST(SendgridVerify, SignThenVerify_AcceptedWithRotatedKeys) {
    auto current = generate_key_pair();
    auto previous = generate_key_pair();
    auto source = source_for("sendgrid", {});
    source.public_keys = {previous.public_b64};
    source.signing_key = current.private_pem;
    auto signer = make(source);
    auto headers = signer->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    EXPECT_EQ(verify_reason(*signer, *headers, kBody, kNow), "no signature matched");

    source.public_keys = {previous.public_b64, current.public_b64};
    auto rotated = make(source);
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow), "accepted");
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow + 301), "timestamp outside tolerance");
}

TEST(SendgridVerify, SignWithoutPrivateKey_InvalidConfig) {
    auto source = source_for("sendgrid", {});
    source.public_keys = {generate_key_pair().public_b64};
    auto headers = make(source)->sign(kBody, kNow);
    ASSERT_FALSE(headers.ok());
    EXPECT_EQ(headers.error().code, hookflow::Errc::invalid_config);
    EXPECT_EQ(headers.error().log_text, "provider sendgrid cannot sign without a private key");
}

TEST(SendgridVerify, BadPublicKey_InvalidConfig) {
    auto source = source_for("sendgrid", {});
    source.public_keys = {"bm90IGEga2V5"};
    auto verifier = hookflow::verify::make_verifier(source);
    ASSERT_FALSE(verifier.ok());
    EXPECT_EQ(verifier.error().code, hookflow::Errc::invalid_config);
}

TEST(SendgridVerify, NoPublicKey_RejectsEverything) {
    auto verifier = make(source_for("sendgrid", {"a secret is not a key"}));
    Headers headers{{"X-Twilio-Email-Event-Webhook-Signature", "MEUCIQ=="},
                    {"X-Twilio-Email-Event-Webhook-Timestamp", "1767225600"}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "no secret configured");
}

TEST(SendgridVerify, SplitBatch_OneItemPerEvent) {
    auto source = source_for("sendgrid", {});
    source.public_keys = {generate_key_pair().public_b64};
    auto verifier = make(source);
    Headers headers;
    Delivery delivery{headers, kBody, "/hooks/test", kNow};
    auto json = nlohmann::json::parse(kBody);

    auto identity = verifier->identify(delivery, json);
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, hookflow::to_hex(hookflow::sha256(kBody)));
    EXPECT_EQ(identity->type, "sendgrid.batch");

    auto items = verifier->split(delivery, json);
    ASSERT_TRUE(items.ok());
    ASSERT_EQ(items->size(), 2u);
    EXPECT_EQ((*items)[0].delivery_id, "ev1");
    EXPECT_EQ((*items)[0].type, "processed");
    EXPECT_EQ((*items)[1].delivery_id, "ev2");
    EXPECT_EQ((*items)[1].type, "delivered");
    EXPECT_EQ((*items)[1].body.at("email"), "b@example.com");
}

TEST(SendgridVerify, SplitItemWithoutEventId_BadRequest) {
    auto source = source_for("sendgrid", {});
    source.public_keys = {generate_key_pair().public_b64};
    auto verifier = make(source);
    Headers headers;
    auto items = verifier->split(Delivery{headers, "[]", "/hooks/test", kNow},
                                 nlohmann::json::parse(R"([{"event":"open"}])"));
    ASSERT_FALSE(items.ok());
    EXPECT_EQ(items.error().code, hookflow::Errc::bad_request);
}

}  // namespace
