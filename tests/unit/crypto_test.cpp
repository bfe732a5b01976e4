#include <string>
#include <utility>

#include <gtest/gtest.h>

#include <hookflow/common/crypto.hpp>

namespace {

using hookflow::constant_time_equal;
using hookflow::from_base64;
using hookflow::from_hex;
using hookflow::hmac_sha256;
using hookflow::sha256;
using hookflow::to_base64;
using hookflow::to_hex;

TEST(Crypto, Rfc4231Case1_Matches) {
    std::string key(20, '\x0b');
    EXPECT_EQ(to_hex(hmac_sha256(key, "Hi There")),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(Crypto, Rfc4231Case2_Matches) {
    EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, HmacEmptyKeyAndData_Is32Bytes) {
    // Known value of HMAC-SHA256 with an empty key over empty data.
    EXPECT_EQ(to_hex(hmac_sha256("", "")),
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Crypto, Sha256Abc_Matches) {
    EXPECT_EQ(to_hex(sha256("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(to_hex(sha256("")),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Crypto, HexRoundTrip_KeepsAllBytes) {
    std::string bytes("\x00\x01\x7f\x80\xff", 5);
    EXPECT_EQ(to_hex(bytes), "00017f80ff");
    EXPECT_EQ(from_hex("00017f80ff"), bytes);
    EXPECT_EQ(from_hex("00017F80FF"), bytes);
    EXPECT_EQ(from_hex(""), std::string());
}

TEST(Crypto, MalformedHex_Rejected) {
    EXPECT_FALSE(from_hex("abc").has_value());
    EXPECT_FALSE(from_hex("zz").has_value());
    EXPECT_FALSE(from_hex("0g").has_value());
    EXPECT_FALSE(from_hex(" 00").has_value());
}

TEST(Crypto, Base64Rfc4648Vectors_RoundTrip) {
    const std::pair<std::string, std::string> cases[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [raw, encoded] : cases) {
        SCOPED_TRACE(raw);
        EXPECT_EQ(to_base64(raw), encoded);
        EXPECT_EQ(from_base64(encoded), raw);
    }
}

TEST(Crypto, Base64BinaryWithZeros_RoundTrips) {
    std::string bytes("\x00\xff\x00\xfe\x10", 5);
    EXPECT_EQ(to_base64(bytes), "AP8A/hA=");
    EXPECT_EQ(from_base64("AP8A/hA="), bytes);
}

TEST(Crypto, MalformedBase64_Rejected) {
    EXPECT_FALSE(from_base64("Zg").has_value());        // missing padding
    EXPECT_FALSE(from_base64("Zg=").has_value());       // short padding
    EXPECT_FALSE(from_base64("Z===").has_value());      // three pad characters
    EXPECT_FALSE(from_base64("Zg==Zg==").has_value());  // padding in the middle
    EXPECT_FALSE(from_base64("Zm9v YmFy").has_value());
    EXPECT_FALSE(from_base64("Zm9-").has_value());  // URL-safe alphabet
    EXPECT_FALSE(from_base64("====").has_value());
}

TEST(Crypto, ConstantTimeEqual_ComparesContentAndLength) {
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "abcd"));
    EXPECT_FALSE(constant_time_equal("", "a"));
}

}  // namespace
