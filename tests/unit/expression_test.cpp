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

TEST(Expression, CentsToUnits_RenderWithoutTrailingZeros) {
    auto rendered = render(json("Amount: ${{ event.data.object.amount_due / 100 }}"),
                           json{{"event", {{"data", {{"object", {{"amount_due", 1250}}}}}}}});
    ASSERT_TRUE(rendered.ok());
    EXPECT_EQ(*rendered, json("Amount: 12.5"));
    EXPECT_EQ(eval_ok("1250 / 100"), json(12.5));
    EXPECT_EQ(eval_ok("7.5 % 2"), json(1.5));
    EXPECT_EQ(eval_ok("0 - 3 * 2"), json(-6));
    EXPECT_EQ(eval_error("2.5 / 0"), "expression '2.5 / 0': division by zero at column 5");
}

TEST(Expression, Trim_RemovesAsciiSpaceAroundUtf8) {
    EXPECT_EQ(eval_ok("trim('  héllo 🌍\t')"), json("héllo 🌍"));
    EXPECT_EQ(eval_ok("trim('   ')"), json(""));
    EXPECT_EQ(eval_ok("trim(null)"), json(nullptr));
    EXPECT_EQ(eval_error("trim(1)"),
              "expression 'trim(1)': trim() needs a string, got number at column 1");
}

TEST(Expression, JoinAndSplit_RoundTrip) {
    EXPECT_EQ(eval_ok("join(split('a,b,c', ','), ' | ')"), json("a | b | c"));
    EXPECT_EQ(eval_ok("join(event.data.object.lines, ';')"),
              json(R"({"id":"il_1"};{"id":"il_2"};{"id":"il_3"})"));
    EXPECT_EQ(eval_ok("join(split('x', ','))"), json("x"));
    EXPECT_EQ(eval_ok("join(null, ',')"), json(""));
    EXPECT_EQ(eval_ok("split('a,,b', ',')"), json({"a", "", "b"}));
    EXPECT_EQ(eval_ok("split('', ',')"), json({""}));
    EXPECT_EQ(eval_ok("split('日本🌍', '')"), json({"日", "本", "🌍"}));
    EXPECT_EQ(eval_ok("split(null, ',')"), json::array());
    EXPECT_EQ(eval_error("join('a', ',')"),
              "expression 'join('a', ',')': join() needs an array, got string at column 1");
    EXPECT_EQ(eval_error("split('a', 1)"),
              "expression 'split('a', 1)': split() needs a string separator, got number at "
              "column 1");
}

TEST(Expression, SplitPastTheItemBound_IsAnError) {
    std::string many(10001, ',');
    json ctx = {{"text", many}};
    auto value = evaluate("split(text, ',')", ctx);
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().log_text,
              "expression 'split(text, ',')': split() gives more than 10000 items at column 1");
    EXPECT_EQ(evaluate("length(split(text, ','))", json{{"text", std::string(9999, ',')}}).value(),
              json(10000));
}

TEST(Expression, Format_FillsNumberedPlaceholders) {
    EXPECT_EQ(eval_ok("format('{0} owes {1}', 'Jenny', 12.5)"), json("Jenny owes 12.5"));
    EXPECT_EQ(eval_ok("format('{1}{0}{1}', 'a', 'b')"), json("bab"));
    EXPECT_EQ(eval_ok("format('{{literal}} {0}', null)"), json("{literal} "));
    EXPECT_EQ(eval_ok("format('plain')"), json("plain"));
    EXPECT_EQ(eval_error("format('{2}', 'a')"),
              "expression 'format('{2}', 'a')': format() has no argument for {2} at column 1");
    EXPECT_EQ(eval_error("format('{x}', 'a')"),
              "expression 'format('{x}', 'a')': format() placeholders are {0}, {1}, ... ('{{' "
              "for a brace) at column 1");
    EXPECT_EQ(eval_error("format(1)"),
              "expression 'format(1)': format() needs a string as first argument, got number at "
              "column 1");
}

TEST(Expression, FromJson_ParsesAndRejects) {
    EXPECT_EQ(eval_ok("fromJSON('{\"a\": [1, 2]}').a[1]"), json(2));
    EXPECT_EQ(eval_ok("fromJSON(toJSON(event.data.object.lines))[2].id"), json("il_3"));
    EXPECT_EQ(eval_ok("fromJSON(null)"), json(nullptr));
    EXPECT_EQ(eval_error("fromJSON('{nope')"),
              "expression 'fromJSON('{nope')': fromJSON() got text that is not JSON at column 1");
    json deep = {{"text", std::string(100, '[') + std::string(100, ']')}};
    auto value = evaluate("fromJSON(text)", deep);
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().log_text,
              "expression 'fromJSON(text)': fromJSON() input nested deeper than 64 at column 1");
}

TEST(Expression, Default_TakesTheFirstNonNull) {
    EXPECT_EQ(eval_ok("default(null, event.missing, 'third', 'fourth')"), json("third"));
    EXPECT_EQ(eval_ok("default(null)"), json(nullptr));
    EXPECT_EQ(eval_ok("default(false, 'x')"), json(false));  // false is not null
    EXPECT_EQ(eval_error("default()"),
              "expression 'default()': default() takes at least 1 argument, got 0 at column 1");
}

TEST(Expression, Now_ReadsTheGivenClock) {
    hookflow::FixedClock clock(1767225600);  // 2026-01-01T00:00:00Z
    auto value = evaluate("now()", json::object(), clock);
    ASSERT_TRUE(value.ok());
    EXPECT_EQ(*value, json("2026-01-01T00:00:00Z"));
    auto rendered =
        render(json("at ${{ formatTime(now(), '%H:%M on %d/%m/%Y') }}"), json::object(), clock);
    ASSERT_TRUE(rendered.ok());
    EXPECT_EQ(*rendered, json("at 00:00 on 01/01/2026"));
    EXPECT_EQ(eval_error("now(1)"),
              "expression 'now(1)': now() takes 0 arguments, got 1 at column 1");
}

TEST(Expression, FormatTime_AcceptsUnixSecondsAndRfc3339) {
    EXPECT_EQ(eval_ok("formatTime(1700000000, '%Y-%m-%d %H:%M:%S')"), json("2023-11-14 22:13:20"));
    EXPECT_EQ(eval_ok("formatTime(1700000000.9, '%S')"), json("20"));
    EXPECT_EQ(eval_ok("formatTime('2026-03-01T10:00:00+02:00', '%H:%M')"), json("08:00"));
    EXPECT_EQ(eval_ok("formatTime('2026-03-01T10:00:00.123Z', '%B %e')"), json("March  1"));
    EXPECT_EQ(eval_ok("formatTime(null, '%Y')"), json(nullptr));
    EXPECT_EQ(eval_error("formatTime('yesterday', '%Y')"),
              "expression 'formatTime('yesterday', '%Y')': formatTime() needs unix seconds or an "
              "RFC 3339 time such as 2026-01-31T09:30:00Z at column 1");
    EXPECT_EQ(eval_error("formatTime(true, '%Y')"),
              "expression 'formatTime(true, '%Y')': formatTime() needs a number of unix seconds "
              "or an RFC 3339 string, got boolean at column 1");
    EXPECT_EQ(eval_error("formatTime(1e300, '%Y')"),
              "expression 'formatTime(1e300, '%Y')': unexpected 'e300' at column 13");
    EXPECT_EQ(eval_error("formatTime(99999999999999, '%Y')"),
              "expression 'formatTime(99999999999999, '%Y')': formatTime() time out of range at "
              "column 1");
}

TEST(Expression, WrongArgumentTypes_NameFunctionAndExpectedType) {
    EXPECT_EQ(eval_error("lower(1)"),
              "expression 'lower(1)': lower() needs a string, got number at column 1");
    EXPECT_EQ(eval_error("upper(true)"),
              "expression 'upper(true)': upper() needs a string, got boolean at column 1");
    EXPECT_EQ(eval_error("length(1)"),
              "expression 'length(1)': length() needs a string, array or object, got number at "
              "column 1");
    EXPECT_EQ(eval_error("contains(1, 'a')"),
              "expression 'contains(1, 'a')': contains() needs a string or an array, got number "
              "at column 1");
    EXPECT_EQ(eval_error("startsWith('a', 1)"),
              "expression 'startsWith('a', 1)': startsWith() needs a string as second argument, "
              "got number at column 1");
}

TEST(Expression, UnicodeLength_CountsCodePoints) {
    EXPECT_EQ(eval_ok("length('日本語')"), json(3));
    EXPECT_EQ(eval_ok("length('🌍🌍')"), json(2));
    EXPECT_EQ(eval_ok("lower('ÉCOLE')"), json("École"));  // ASCII letters only
    EXPECT_EQ(eval_ok("length(trim(' ü '))"), json(1));
}

TEST(Expression, HugeStringResult_IsAnErrorNotACrash) {
    json ctx = {{"s", std::string(600 * 1024, 'x')}};
    auto doubled = evaluate("s + s", ctx);
    ASSERT_FALSE(doubled.ok());
    EXPECT_EQ(doubled.error().log_text,
              "expression 's + s': result longer than 1048576 bytes at column 3");
    auto joined = evaluate("join(split(s, ''), ',')", json{{"s", std::string(5000, 'y')}});
    ASSERT_TRUE(joined.ok());
    EXPECT_EQ(joined->get<std::string>().size(), 9999u);
    auto rendered = render(json("${{ s }}${{ s }}"), ctx);
    ASSERT_FALSE(rendered.ok());
    EXPECT_EQ(rendered.error().log_text,
              "template '${{ s }}${{ s }}': result longer than 1048576 bytes");
}

TEST(Expression, VeryLongAndDeepInput_IsBounded) {
    std::string calls;
    for (int i = 0; i < 100; ++i) {
        calls += "lower(";
    }
    calls += "'x'" + std::string(100, ')');
    EXPECT_NE(eval_error(calls).find("nesting deeper than 64"), std::string::npos);
    std::string brackets;
    for (int i = 0; i < 70; ++i) {
        brackets += "a[";
    }
    brackets += "0" + std::string(70, ']');
    EXPECT_NE(eval_error(brackets).find("nesting deeper than 64"), std::string::npos);
    auto huge = check_expression(std::string(1 << 20, 'a'));
    ASSERT_FALSE(huge.ok());
    EXPECT_NE(huge.error().log_text.find("longer than 4096 characters"), std::string::npos);
}

TEST(Expression, ComparisonRule_AcrossTypes) {
    // `==`/`!=` across types: never equal, never an error.
    EXPECT_EQ(eval_ok("'a' == null"), json(false));
    EXPECT_EQ(eval_ok("0 == false"), json(false));
    EXPECT_EQ(eval_ok("'' != null"), json(true));
    // Ordering across types or on non-number non-string values: an error.
    EXPECT_EQ(eval_error("null < 1"),
              "expression 'null < 1': cannot compare null and number with '<' at column 6");
    EXPECT_EQ(eval_error("'a' >= null"),
              "expression ''a' >= null': cannot compare string and null with '>=' at column 5");
}

}  // namespace
