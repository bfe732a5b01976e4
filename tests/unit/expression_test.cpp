#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <hookflow/engine/expression.hpp>

namespace {

using hookflow::Errc;
using hookflow::engine::check_expression;
using hookflow::engine::evaluate;
using hookflow::engine::expressions_in;
using hookflow::engine::render;
using hookflow::engine::truthy;
using nlohmann::json;

const json& context() {
    static const json kContext = json::parse(R"({
        "event": {
            "type": "invoice.payment_failed",
            "data": {"object": {"amount_due": 2000, "customer": "cus_123", "paid": false,
                                "lines": [{"id": "il_1"}, {"id": "il_2"}, {"id": "il_3"}],
                                "meta-data": {"tier": "gold"}, "ratio": 0.5}}
        },
        "steps": {"customer": {"output": {"email": "jenny@example.com", "name": "Jenny"},
                               "status": "succeeded"}},
        "run": {"id": "run_1", "attempt": 2}
    })");
    return kContext;
}

json eval_ok(const std::string& expression) {
    auto value = evaluate(expression, context());
    EXPECT_TRUE(value.ok()) << expression << ": " << (value.ok() ? "" : value.error().log_text);
    return value.ok() ? *value : json("<error>");
}

std::string eval_error(const std::string& expression) {
    auto value = evaluate(expression, context());
    EXPECT_FALSE(value.ok()) << expression;
    if (value.ok()) {
        return "<ok>";
    }
    EXPECT_EQ(value.error().code, Errc::expression);
    return value.error().log_text;
}

TEST(Expression, Literals_EvaluateToTheirValues) {
    EXPECT_EQ(eval_ok("null"), json(nullptr));
    EXPECT_EQ(eval_ok("true"), json(true));
    EXPECT_EQ(eval_ok("false"), json(false));
    EXPECT_EQ(eval_ok("42"), json(42));
    EXPECT_TRUE(eval_ok("42").is_number_integer());
    EXPECT_EQ(eval_ok("2.5"), json(2.5));
    EXPECT_EQ(eval_ok("'it''s'"), json("it's"));
    EXPECT_EQ(eval_ok("''"), json(""));
}

TEST(Expression, Paths_ReachIntoTheContext) {
    EXPECT_EQ(eval_ok("event.data.object.amount_due"), json(2000));
    EXPECT_EQ(eval_ok("event.data.object['meta-data'].tier"), json("gold"));
    EXPECT_EQ(eval_ok("event['data']['object']['customer']"), json("cus_123"));
    EXPECT_EQ(eval_ok("event.data.object.lines[0].id"), json("il_1"));
    EXPECT_EQ(eval_ok("event.data.object.lines[-1].id"), json("il_3"));
    EXPECT_EQ(eval_ok("event.data.object.lines[1 + 1].id"), json("il_3"));
    EXPECT_EQ(eval_ok("steps.customer.output.email"), json("jenny@example.com"));
    EXPECT_EQ(eval_ok("run.attempt"), json(2));
    EXPECT_EQ(eval_ok("run.attempt-1"), json(nullptr));  // one name: `attempt-1`
    EXPECT_EQ(eval_ok("run.attempt - 1"), json(1));
}

TEST(Expression, MissingPath_IsNull) {
    EXPECT_EQ(eval_ok("event.nothing.here"), json(nullptr));
    EXPECT_EQ(eval_ok("nowhere"), json(nullptr));
    EXPECT_EQ(eval_ok("event.data.object.lines[3]"), json(nullptr));
    EXPECT_EQ(eval_ok("event.data.object.lines[-4]"), json(nullptr));
    EXPECT_EQ(eval_ok("event.type.length"), json(nullptr));           // into a string
    EXPECT_EQ(eval_ok("event.data.object.lines.id"), json(nullptr));  // name into an array
    EXPECT_EQ(eval_ok("steps.later.output.x"), json(nullptr));
}

TEST(Expression, Arithmetic_FollowsNumberRules) {
    EXPECT_EQ(eval_ok("1 + 2"), json(3));
    EXPECT_EQ(eval_ok("5 - 7"), json(-2));
    EXPECT_EQ(eval_ok("6 * 7"), json(42));
    EXPECT_EQ(eval_ok("8 / 2"), json(4));
    EXPECT_TRUE(eval_ok("8 / 2").is_number_integer());
    EXPECT_EQ(eval_ok("7 / 2"), json(3.5));
    EXPECT_EQ(eval_ok("7 % 3"), json(1));
    EXPECT_EQ(eval_ok("1.5 + 1"), json(2.5));
    EXPECT_EQ(eval_ok("event.data.object.amount_due / 100"), json(20));
    EXPECT_EQ(eval_ok("'a' + 'b'"), json("ab"));
    EXPECT_EQ(eval_ok("-event.data.object.amount_due"), json(-2000));
    EXPECT_EQ(eval_ok("- -3"), json(3));
    EXPECT_EQ(eval_ok("9223372036854775807 + 1"), json(9223372036854775808.0));
}

TEST(Expression, Comparisons_FollowTheComparisonRule) {
    EXPECT_EQ(eval_ok("1 == 1.0"), json(true));
    EXPECT_EQ(eval_ok("1 != 2"), json(true));
    EXPECT_EQ(eval_ok("null == null"), json(true));
    EXPECT_EQ(eval_ok("'1' == 1"), json(false));
    EXPECT_EQ(eval_ok("null == false"), json(false));
    EXPECT_EQ(eval_ok("'1' != 1"), json(true));
    EXPECT_EQ(eval_ok("event.data.object.paid == false"), json(true));
    EXPECT_EQ(eval_ok("2 < 10"), json(true));
    EXPECT_EQ(eval_ok("'2' < '10'"), json(false));  // bytes, not numbers
    EXPECT_EQ(eval_ok("'abc' <= 'abc'"), json(true));
    EXPECT_EQ(eval_ok("3 > 2.5"), json(true));
    EXPECT_EQ(eval_ok("3 >= 3"), json(true));
    EXPECT_EQ(eval_ok("event.data.object.amount_due > 0"), json(true));
    EXPECT_EQ(eval_ok("event.data.object.lines[0] == event.data.object.lines[0]"), json(true));
}

TEST(Expression, LogicalOperators_ReturnBooleansAndShortCircuit) {
    EXPECT_EQ(eval_ok("1 && 'x'"), json(true));
    EXPECT_EQ(eval_ok("0 || ''"), json(false));
    EXPECT_EQ(eval_ok("!0"), json(true));
    EXPECT_EQ(eval_ok("!event.data.object.customer"), json(false));
    // The right side would be an error (ordering across types) if it were evaluated.
    EXPECT_EQ(eval_ok("false && (1 < 'a')"), json(false));
    EXPECT_EQ(eval_ok("true || (1 < 'a')"), json(true));
}

TEST(Expression, Precedence_BindsAsDocumented) {
    EXPECT_EQ(eval_ok("1 + 2 * 3"), json(7));
    EXPECT_EQ(eval_ok("(1 + 2) * 3"), json(9));
    EXPECT_EQ(eval_ok("10 - 4 - 3"), json(3));
    EXPECT_EQ(eval_ok("1 + 1 == 2 && 3 > 2"), json(true));
    EXPECT_EQ(eval_ok("true || false && false"), json(true));
    EXPECT_EQ(eval_ok("(true || false) && false"), json(false));
    EXPECT_EQ(eval_ok("!true == false"), json(true));
    EXPECT_EQ(eval_ok("-2 * 3 + 10 % 4"), json(-4));
    EXPECT_EQ(eval_ok("1 < 2 == 2 < 3"), json(true));
}

TEST(Expression, Functions_Work) {
    EXPECT_EQ(eval_ok("contains('hello', 'ell')"), json(true));
    EXPECT_EQ(eval_ok("contains(event.data.object.lines, event.data.object.lines[1])"), json(true));
    EXPECT_EQ(eval_ok("startsWith(event.type, 'invoice.')"), json(true));
    EXPECT_EQ(eval_ok("endsWith(event.type, 'paid')"), json(false));
    EXPECT_EQ(eval_ok("lower('AbC')"), json("abc"));
    EXPECT_EQ(eval_ok("upper('AbC')"), json("ABC"));
    EXPECT_EQ(eval_ok("length(event.data.object.lines)"), json(3));
    EXPECT_EQ(eval_ok("length('héllo')"), json(5));
    EXPECT_EQ(eval_ok("default(event.missing, 'x')"), json("x"));
    EXPECT_EQ(eval_ok("default(run.id, 'x')"), json("run_1"));
    EXPECT_EQ(eval_ok("toJSON(event.data.object['meta-data'])"), json(R"({"tier":"gold"})"));
}

TEST(Expression, Errors_NameTheExpressionAndColumn) {
    EXPECT_EQ(eval_error("a >< b"), "expression 'a >< b': unexpected '<' at column 4");
    EXPECT_EQ(eval_error("1 +"), "expression '1 +': unexpected end of expression at column 4");
    EXPECT_EQ(eval_error("(1 + 2"),
              "expression '(1 + 2': unexpected end of expression at column 7");
    EXPECT_EQ(eval_error("a # b"), "expression 'a # b': unexpected '#' at column 3");
    EXPECT_EQ(eval_error("'open"), "expression ''open': unterminated string at column 1");
    EXPECT_EQ(eval_error("a b"), "expression 'a b': unexpected 'b' at column 3");
    EXPECT_EQ(eval_error("nope(1)"), "expression 'nope(1)': unknown function 'nope' at column 1");
    EXPECT_EQ(eval_error("lower(1, 2)"),
              "expression 'lower(1, 2)': lower() takes 1 argument, got 2 at column 1");
    EXPECT_EQ(eval_error("1 / 0"), "expression '1 / 0': division by zero at column 3");
    EXPECT_EQ(eval_error("1 % 0"), "expression '1 % 0': division by zero at column 3");
    EXPECT_EQ(eval_error("1 < 'a'"),
              "expression '1 < 'a'': cannot compare number and string with '<' at column 3");
    EXPECT_EQ(eval_error("true > false"),
              "expression 'true > false': cannot compare boolean and boolean with '>' at column 6");
    EXPECT_EQ(eval_error("1 + 'a'"),
              "expression '1 + 'a'': '+' needs two numbers or two strings, got number and "
              "string at column 3");
    EXPECT_EQ(eval_error("'a' * 2"),
              "expression ''a' * 2': '*' needs two numbers, got string and number at column 5");
    EXPECT_EQ(eval_error("-'a'"), "expression '-'a'': '-' needs a number, got string at column 1");
    EXPECT_EQ(eval_error("  "), "expression '': empty");
}

TEST(Expression, TooLong_IsRejected) {
    std::string long_expression = "1";
    for (int i = 0; i < 2100; ++i) {
        long_expression += "+1";
    }
    auto result = check_expression(long_expression);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, Errc::expression);
    EXPECT_NE(result.error().log_text.find("longer than 4096 characters"), std::string::npos)
        << result.error().log_text;
    EXPECT_LT(result.error().log_text.size(), 200u);  // the expression is shown cut short
}

TEST(Expression, TooDeep_IsRejected) {
    std::string deep = std::string(65, '(') + "1" + std::string(65, ')');
    auto error = eval_error(deep);
    EXPECT_NE(error.find("nesting deeper than 64 at column 65"), std::string::npos) << error;

    std::string fine = std::string(64, '(') + "1" + std::string(64, ')');
    EXPECT_EQ(eval_ok(fine), json(1));

    std::string negations(200, '!');
    EXPECT_NE(eval_error(negations + "true").find("nesting deeper than 64"), std::string::npos);
}

TEST(Expression, UnicodeStrings_PassThrough) {
    EXPECT_EQ(eval_ok("'héllo 🌍 日本'"), json("héllo 🌍 日本"));
    EXPECT_EQ(eval_ok("'é' + '🌍'"), json("é🌍"));
    EXPECT_EQ(eval_ok("upper('é a')"), json("é A"));
}

TEST(Expression, Truthy_FollowsTheHeader) {
    EXPECT_FALSE(truthy(json(nullptr)));
    EXPECT_FALSE(truthy(json(false)));
    EXPECT_FALSE(truthy(json(0)));
    EXPECT_FALSE(truthy(json(0.0)));
    EXPECT_FALSE(truthy(json("")));
    EXPECT_TRUE(truthy(json("0")));
    EXPECT_TRUE(truthy(json(-1)));
    EXPECT_TRUE(truthy(json::array()));
    EXPECT_TRUE(truthy(json::object()));
}

TEST(Render, SingleExpression_KeepsItsType) {
    auto number = render(json("${{ event.data.object.amount_due }}"), context());
    ASSERT_TRUE(number.ok());
    EXPECT_EQ(*number, json(2000));

    auto object = render(json("  ${{ event.data.object['meta-data'] }} "), context());
    ASSERT_TRUE(object.ok());
    EXPECT_EQ(*object, json({{"tier", "gold"}}));

    auto missing = render(json("${{ event.nothing }}"), context());
    ASSERT_TRUE(missing.ok());
    EXPECT_EQ(*missing, json(nullptr));
}

TEST(Render, Interpolation_MixesTextAndValues) {
    auto text =
        render(json("/v1/customers/${{ event.data.object.customer }}?n=${{ 1 + 1 }}"
                    "&x=${{ event.nothing }}&p=${{ event.data.object.paid }}"
                    "&m=${{ event.data.object['meta-data'] }}&r=${{ event.data.object.ratio }}"),
               context());
    ASSERT_TRUE(text.ok()) << text.error().log_text;
    EXPECT_EQ(*text, json(R"(/v1/customers/cus_123?n=2&x=&p=false&m={"tier":"gold"}&r=0.5)"));

    auto quoted = render(json("a ${{ 'x}}y' }} b"), context());
    ASSERT_TRUE(quoted.ok());
    EXPECT_EQ(*quoted, json("a x}}y b"));

    auto plain = render(json("no expressions here"), context());
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(*plain, json("no expressions here"));
}

TEST(Render, NestedValues_RenderElementByElement) {
    json with = {{"to", "${{ steps.customer.output.email }}"},
                 {"count", 3},
                 {"flags", {true, "${{ run.attempt }}"}},
                 {"body", {{"name", "Hi ${{ steps.customer.output.name }}"}}}};
    auto rendered = render(with, context());
    ASSERT_TRUE(rendered.ok());
    EXPECT_EQ(*rendered,
              json({{"to", "jenny@example.com"},
                    {"count", 3},
                    {"flags", {true, 2}},
                    {"body", {{"name", "Hi Jenny"}}}}));
}

TEST(Render, Errors_AreReported) {
    auto bad = render(json("x ${{ 1 + }}"), context());
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().log_text, "expression '1 +': unexpected end of expression at column 4");

    auto open = render(json("x ${{ 1 + 1"), context());
    ASSERT_FALSE(open.ok());
    EXPECT_EQ(open.error().log_text, "template 'x ${{ 1 + 1': unterminated '${{' at column 3");
}

TEST(Render, ExpressionsIn_ListsInnerTexts) {
    EXPECT_EQ(expressions_in("a ${{ x.y }} b ${{'q'}} ${{ z"),
              (std::vector<std::string>{"x.y", "'q'"}));
    EXPECT_TRUE(expressions_in("plain").empty());
}

}  // namespace
