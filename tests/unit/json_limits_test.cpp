#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include <hookflow/common/json_limits.hpp>

namespace {

using hookflow::json_nesting_depth;
using hookflow::json_too_deep;
using hookflow::kMaxJsonDepth;
using hookflow::parse_json_bounded;
using hookflow::parse_ordered_json_bounded;

std::string nested(int depth, std::string_view open = "[", std::string_view close = "]") {
    std::string text;
    for (int i = 0; i < depth; ++i) {
        text += open;
    }
    for (int i = 0; i < depth; ++i) {
        text += close;
    }
    return text;
}

struct DepthCase {
    std::string text;
    int depth;
};

class NestingDepth : public testing::TestWithParam<DepthCase> {};

TEST_P(NestingDepth, Counted) {
    EXPECT_EQ(json_nesting_depth(GetParam().text), GetParam().depth) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(Texts,
                         NestingDepth,
                         testing::Values(DepthCase{"", 0},
                                         DepthCase{"42", 0},
                                         DepthCase{"{}", 1},
                                         DepthCase{"[[1], {\"a\": [2]}]", 3},
                                         DepthCase{"{\"a\": \"[[[[{{{{\"}", 1},
                                         DepthCase{"[\"\\\"[[[\"]", 1},
                                         DepthCase{"[\"\\\\\", [[1]]]", 3},
                                         DepthCase{"]]]][[1]]", 2},
                                         DepthCase{"not json [ { [", 3}),
                         // Named by position: the texts hold brackets gtest cannot use.
                         [](const testing::TestParamInfo<DepthCase>& param) {
                             return "Case" + std::to_string(param.index);
                         });

TEST(JsonNestingDepth, DeepText_StopsPastTheLimit) {
    EXPECT_EQ(json_nesting_depth(nested(100000), 256), 257);
    EXPECT_EQ(json_nesting_depth(nested(10), 256), 10);
    EXPECT_EQ(json_nesting_depth(nested(256, "{\"k\":", "}"), 256), 256);
}

TEST(JsonTooDeep, AtAndPastTheLimit) {
    EXPECT_FALSE(json_too_deep(nested(kMaxJsonDepth)));
    EXPECT_TRUE(json_too_deep(nested(kMaxJsonDepth + 1)));
    EXPECT_FALSE(json_too_deep(nested(64), 64));
    EXPECT_TRUE(json_too_deep(nested(65), 64));
}

TEST(ParseJsonBounded, ArraysNested100000Deep_RefusedWithoutParsing) {
    auto parsed = parse_json_bounded(nested(100000));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().log_text, "nested deeper than 256 levels");
    EXPECT_EQ(parsed.error().code, hookflow::Errc::bad_request);
}

TEST(ParseJsonBounded, AtTheLimit_Parsed) {
    auto parsed = parse_json_bounded(nested(kMaxJsonDepth));
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed->is_array());
}

TEST(ParseJsonBounded, NotJson_Refused) {
    auto parsed = parse_json_bounded("{\"a\": ");
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().log_text, "not JSON");
}

TEST(ParseJsonBounded, OwnLimit_Used) {
    EXPECT_FALSE(parse_json_bounded(nested(5), 4).ok());
    EXPECT_TRUE(parse_json_bounded(nested(4), 4).ok());
}

TEST(ParseOrderedJsonBounded, KeyOrder_Kept) {
    auto parsed = parse_ordered_json_bounded("{\"b\": 1, \"a\": 2}");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->dump(), "{\"b\":1,\"a\":2}");
    EXPECT_FALSE(parse_ordered_json_bounded(nested(300)).ok());
}

}  // namespace
