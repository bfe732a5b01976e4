// Expressions: a hand-written lexer, a recursive-descent parser building a small tree, and an
// evaluator over nlohmann::json.
//
// Comparison rule: numbers compare numerically (1 == 1.0), strings lexicographically by bytes,
// booleans and null only by equality. `==` between values of different types is false
// (null == null is true); `<`, `<=`, `>`, `>=` between different types, or on booleans, null,
// arrays or objects, is an error. Arrays and objects are equal when their contents are.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "expression_internal.hpp"
#include <hookflow/engine/expression.hpp>

namespace hookflow::engine {

namespace {

using nlohmann::json;

enum class TokenKind { end, number, string, name, op };

struct Token {
    TokenKind kind = TokenKind::end;
    std::string text;     // as written (for strings: the unquoted value)
    json number;          // for numbers
    std::size_t col = 0;  // 1-based
};

enum class NodeKind { literal, root, member, index, unary, binary, call };

struct Node {
    NodeKind kind = NodeKind::literal;
    std::string name;  // root/member name, operator, or function name
    json value;        // literal value
    std::vector<std::unique_ptr<Node>> children;
    std::size_t col = 0;
};

using NodePtr = std::unique_ptr<Node>;

Error fail(const std::string& detail, std::size_t col) {
    return make_error(Errc::expression, detail + " at column " + std::to_string(col));
}

std::string_view trim(std::string_view text) {
    const auto* spaces = " \t\r\n";
    auto first = text.find_first_not_of(spaces);
    if (first == std::string_view::npos) {
        return {};
    }
    auto last = text.find_last_not_of(spaces);
    return text.substr(first, last - first + 1);
}

// Long expressions are cut in messages so an error line stays readable.
std::string excerpt(std::string_view expression) {
    constexpr std::size_t kShown = 60;
    if (expression.size() <= kShown) {
        return std::string(expression);
    }
    return std::string(expression.substr(0, kShown)) + "...";
}

Error wrap(std::string_view expression, const Error& error) {
    return make_error(Errc::expression,
                      "expression '" + excerpt(expression) + "': " + error.log_text);
}

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Names may hold '-' because step ids do (`steps.send-email`); so `a-1` is one name and a
// subtraction needs spaces: `a - 1`.
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c) || c == '-';
}

// ---- lexer ----

class Lexer {
  public:
    explicit Lexer(std::string_view text) : text_(text) {}

    Result<std::vector<Token>> run() {
        std::vector<Token> tokens;
        while (true) {
            skip_spaces();
            if (pos_ >= text_.size()) {
                tokens.push_back(Token{TokenKind::end, "", nullptr, pos_ + 1});
                return tokens;
            }
            bool after_dot =
                !tokens.empty() && tokens.back().kind == TokenKind::op && tokens.back().text == ".";
            auto token = next(after_dot);
            if (!token) {
                return token.error();
            }
            tokens.push_back(std::move(*token));
        }
    }

  private:
    void skip_spaces() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r')) {
            ++pos_;
        }
    }

    Result<Token> next(bool after_dot) {
        char c = text_[pos_];
        // After a dot any run of name characters is a key, so `steps.1st` names a step.
        if (after_dot && (is_name_char(c))) {
            return name();
        }
        if (is_name_start(c)) {
            return name();
        }
        if (is_digit(c)) {
            return number();
        }
        if (c == '\'') {
            return string();
        }
        return op();
    }

    Token name() {
        auto start = pos_;
        while (pos_ < text_.size() && is_name_char(text_[pos_])) {
            ++pos_;
        }
        // A trailing '-' belongs to a following subtraction, not to the name.
        while (pos_ > start + 1 && text_[pos_ - 1] == '-') {
            --pos_;
        }
        return Token{
            TokenKind::name, std::string(text_.substr(start, pos_ - start)), nullptr, start + 1};
    }

    Result<Token> number() {
        auto start = pos_;
        while (pos_ < text_.size() && is_digit(text_[pos_])) {
            ++pos_;
        }
        bool decimal = false;
        if (pos_ + 1 < text_.size() && text_[pos_] == '.' && is_digit(text_[pos_ + 1])) {
            decimal = true;
            ++pos_;
            while (pos_ < text_.size() && is_digit(text_[pos_])) {
                ++pos_;
            }
        }
        auto written = text_.substr(start, pos_ - start);
        Token token{TokenKind::number, std::string(written), nullptr, start + 1};
        if (!decimal) {
            std::int64_t value = 0;
            auto [end, ec] =
                std::from_chars(written.data(), written.data() + written.size(), value);
            if (ec == std::errc() && end == written.data() + written.size()) {
                token.number = value;
                return token;
            }
        }
        // Decimals, and integers too large for 64 bits, become doubles.
        token.number = std::strtod(token.text.c_str(), nullptr);
        if (!std::isfinite(token.number.get<double>())) {
            return fail("number '" + token.text + "' out of range", start + 1);
        }
        return token;
    }

    Result<Token> string() {
        auto start = pos_;
        ++pos_;
        std::string value;
        while (pos_ < text_.size()) {
            char c = text_[pos_++];
            if (c != '\'') {
                value += c;
                continue;
            }
            if (pos_ < text_.size() && text_[pos_] == '\'') {
                value += '\'';
                ++pos_;
                continue;
            }
            return Token{TokenKind::string, std::move(value), nullptr, start + 1};
        }
        return fail("unterminated string", start + 1);
    }

    Result<Token> op() {
        static constexpr std::string_view kTwo[] = {"||", "&&", "==", "!=", "<=", ">="};
        static constexpr std::string_view kOne = "<>+-*/%!()[].,";
        auto start = pos_;
        for (auto two : kTwo) {
            if (text_.substr(pos_, 2) == two) {
                pos_ += 2;
                return Token{TokenKind::op, std::string(two), nullptr, start + 1};
            }
        }
        if (kOne.find(text_[pos_]) != std::string_view::npos) {
            ++pos_;
            return Token{TokenKind::op, std::string(1, text_[start]), nullptr, start + 1};
        }
        return fail("unexpected '" + std::string(1, text_[start]) + "'", start + 1);
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

// ---- parser ----

using detail::equal;
using detail::find_function;

std::string arity_text(const detail::FunctionSpec& spec) {
    auto plural = [](std::size_t n) {
        return std::to_string(n) + (n == 1 ? " argument" : " arguments");
    };
    if (spec.min_args == spec.max_args) {
        return plural(spec.min_args);
    }
    if (spec.max_args - spec.min_args == 1) {
        return std::to_string(spec.min_args) + " or " + plural(spec.max_args);
    }
    return "at least " + plural(spec.min_args);
}

NodePtr make_node(NodeKind kind, std::size_t col, std::string name = {}) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->col = col;
    node->name = std::move(name);
    return node;
}

class Parser {
  public:
    explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

    Result<NodePtr> run() {
        auto node = expression();
        if (!node) {
            return node;
        }
        if (peek().kind != TokenKind::end) {
            return unexpected();
        }
        return node;
    }

  private:
    // Each binary level is one table row, from the lowest precedence up.
    static constexpr std::string_view kLevels[][4] = {
        {"||", "", "", ""},
        {"&&", "", "", ""},
        {"==", "!=", "", ""},
        {"<", "<=", ">", ">="},
        {"+", "-", "", ""},
        {"*", "/", "%", ""},
    };
    static constexpr std::size_t kLevelCount = std::size(kLevels);

    const Token& peek() const { return tokens_[pos_]; }

    bool is_op(std::string_view text) const {
        return peek().kind == TokenKind::op && peek().text == text;
    }

    Error unexpected() const {
        const auto& token = peek();
        switch (token.kind) {
            case TokenKind::end:
                return fail("unexpected end of expression", token.col);
            case TokenKind::string:
                return fail("unexpected string '" + token.text + "'", token.col);
            case TokenKind::number:
            case TokenKind::name:
            case TokenKind::op:
                break;
        }
        return fail("unexpected '" + token.text + "'", token.col);
    }

    Result<void> enter(std::size_t col) {
        if (++depth_ > kMaxDepth) {
            return fail("nesting deeper than " + std::to_string(kMaxDepth), col);
        }
        return {};
    }

    Result<NodePtr> expression() { return binary(0); }

    const std::string_view* match_level(std::size_t level) const {
        if (peek().kind != TokenKind::op) {
            return nullptr;
        }
        for (const auto& op : kLevels[level]) {
            if (!op.empty() && peek().text == op) {
                return &op;
            }
        }
        return nullptr;
    }

    Result<NodePtr> binary(std::size_t level) {
        if (level == kLevelCount) {
            return unary();
        }
        auto left = binary(level + 1);
        if (!left) {
            return left;
        }
        while (const auto* op = match_level(level)) {
            auto node = make_node(NodeKind::binary, peek().col, std::string(*op));
            ++pos_;
            auto right = binary(level + 1);
            if (!right) {
                return right;
            }
            node->children.push_back(std::move(*left));
            node->children.push_back(std::move(*right));
            left = std::move(node);
        }
        return left;
    }

    Result<NodePtr> unary() {
        if (!is_op("!") && !is_op("-")) {
            return postfix();
        }
        auto node = make_node(NodeKind::unary, peek().col, peek().text);
        ++pos_;
        if (auto entered = enter(node->col); !entered) {
            return entered.error();
        }
        auto operand = unary();
        --depth_;
        if (!operand) {
            return operand;
        }
        node->children.push_back(std::move(*operand));
        return node;
    }

    Result<NodePtr> postfix() {
        auto base = primary();
        while (base && (is_op(".") || is_op("["))) {
            base = is_op(".") ? member(std::move(*base)) : index(std::move(*base));
        }
        return base;
    }

    Result<NodePtr> member(NodePtr base) {
        ++pos_;
        if (peek().kind != TokenKind::name) {
            return unexpected();
        }
        auto node = make_node(NodeKind::member, peek().col, peek().text);
        ++pos_;
        node->children.push_back(std::move(base));
        return node;
    }

    Result<NodePtr> index(NodePtr base) {
        auto node = make_node(NodeKind::index, peek().col);
        ++pos_;
        if (auto entered = enter(node->col); !entered) {
            return entered.error();
        }
        auto key = expression();
        --depth_;
        if (!key) {
            return key;
        }
        if (!is_op("]")) {
            return unexpected();
        }
        ++pos_;
        node->children.push_back(std::move(base));
        node->children.push_back(std::move(*key));
        return node;
    }

    Result<NodePtr> primary() {
        const auto& token = peek();
        switch (token.kind) {
            case TokenKind::number:
            case TokenKind::string: {
                auto node = make_node(NodeKind::literal, token.col);
                node->value = token.kind == TokenKind::number ? token.number : json(token.text);
                ++pos_;
                return node;
            }
            case TokenKind::name:
                return name();
            case TokenKind::op:
                if (token.text == "(") {
                    return group();
                }
                break;
            case TokenKind::end:
                break;
        }
        return unexpected();
    }

    Result<NodePtr> group() {
        auto col = peek().col;
        ++pos_;
        if (auto entered = enter(col); !entered) {
            return entered.error();
        }
        auto inner = expression();
        --depth_;
        if (!inner) {
            return inner;
        }
        if (!is_op(")")) {
            return unexpected();
        }
        ++pos_;
        return inner;
    }

    Result<NodePtr> name() {
        const auto& token = peek();
        ++pos_;
        if (is_op("(")) {
            return call(token);
        }
        if (token.text == "null" || token.text == "true" || token.text == "false") {
            auto node = make_node(NodeKind::literal, token.col);
            node->value = token.text == "null" ? json(nullptr) : json(token.text == "true");
            return node;
        }
        return make_node(NodeKind::root, token.col, token.text);
    }

    Result<NodePtr> call(const Token& name_token) {
        const auto* spec = find_function(name_token.text);
        if (spec == nullptr) {
            return fail("unknown function '" + name_token.text + "'", name_token.col);
        }
        auto node = make_node(NodeKind::call, name_token.col, name_token.text);
        ++pos_;
        if (auto entered = enter(node->col); !entered) {
            return entered.error();
        }
        auto args = arguments(*node);
        --depth_;
        if (!args) {
            return args.error();
        }
        auto count = node->children.size();
        if (count < spec->min_args || count > spec->max_args) {
            return fail(name_token.text + "() takes " + arity_text(*spec) + ", got " +
                            std::to_string(count),
                        node->col);
        }
        return node;
    }

    Result<void> arguments(Node& node) {
        if (is_op(")")) {
            ++pos_;
            return {};
        }
        while (true) {
            auto arg = expression();
            if (!arg) {
                return arg.error();
            }
            node.children.push_back(std::move(*arg));
            if (is_op(")")) {
                ++pos_;
                return {};
            }
            if (!is_op(",")) {
                return unexpected();
            }
            ++pos_;
        }
    }

    static constexpr int kMaxDepth = detail::kMaxExpressionDepth;
    std::vector<Token> tokens_;
    std::size_t pos_ = 0;
    int depth_ = 0;
};

Result<NodePtr> parse(std::string_view expression) {
    if (expression.size() > detail::kMaxExpressionLength) {
        return make_error(Errc::expression,
                          "expression '" + excerpt(expression) + "': longer than " +
                              std::to_string(detail::kMaxExpressionLength) + " characters");
    }
    auto tokens = Lexer(expression).run();
    if (!tokens) {
        return wrap(expression, tokens.error());
    }
    if (tokens->size() == 1) {
        return make_error(Errc::expression, "expression '': empty");
    }
    auto tree = Parser(std::move(*tokens)).run();
    if (!tree) {
        return wrap(expression, tree.error());
    }
    return tree;
}

// ---- evaluator ----

std::optional<std::int64_t> as_int(const json& value) {
    if (value.is_number_integer() && !value.is_number_unsigned()) {
        return value.get<std::int64_t>();
    }
    if (value.is_number_unsigned()) {
        auto u = value.get<std::uint64_t>();
        if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return static_cast<std::int64_t>(u);
        }
    }
    return std::nullopt;
}

std::string describe_types(const json& a, const json& b) {
    return std::string(a.type_name()) + " and " + b.type_name();
}

// Steps into an object by key or an array by (possibly negative) index; null when missing.
const json* step_into(const json* at, const json& key) {
    if (at->is_object() && key.is_string()) {
        auto it = at->find(key.get<std::string>());
        return it == at->end() ? nullptr : &*it;
    }
    auto index = as_int(key);
    if (at->is_array() && index) {
        auto size = static_cast<std::int64_t>(at->size());
        auto i = *index < 0 ? *index + size : *index;
        if (i < 0 || i >= size) {
            return nullptr;
        }
        return &(*at)[static_cast<std::size_t>(i)];
    }
    return nullptr;
}

Result<json> finite(double value, std::size_t col) {
    if (!std::isfinite(value)) {
        return fail("number out of range", col);
    }
    return json(value);
}

// Integer arithmetic; nullopt when the result overflows 64 bits (doubles take over).
std::optional<json> arithmetic_int(char op, std::int64_t a, std::int64_t b) {
    std::int64_t out = 0;
    bool overflow = false;
    switch (op) {
        case '+':
            overflow = __builtin_add_overflow(a, b, &out);
            break;
        case '-':
            overflow = __builtin_sub_overflow(a, b, &out);
            break;
        case '*':
            overflow = __builtin_mul_overflow(a, b, &out);
            break;
        case '%':
            return json(b == -1 ? 0 : a % b);
        default:  // '/': exact quotients stay integers, others become decimals
            if (a == std::numeric_limits<std::int64_t>::min() && b == -1) {
                return std::nullopt;
            }
            if (a % b == 0) {
                return json(a / b);
            }
            return json(static_cast<double>(a) / static_cast<double>(b));
    }
    if (overflow) {
        return std::nullopt;
    }
    return json(out);
}

Result<json> arithmetic(const std::string& op, const json& a, const json& b, std::size_t col) {
    if (op == "+" && a.is_string() && b.is_string()) {
        return json(a.get<std::string>() + b.get<std::string>());
    }
    if (!a.is_number() || !b.is_number()) {
        auto needs = op == "+" ? "two numbers or two strings" : "two numbers";
        return fail("'" + op + "' needs " + needs + ", got " + describe_types(a, b), col);
    }
    bool zero = b.get<double>() == 0.0;
    if ((op == "/" || op == "%") && zero) {
        return fail("division by zero", col);
    }
    auto ia = as_int(a);
    auto ib = as_int(b);
    if (ia && ib) {
        if (auto exact = arithmetic_int(op[0], *ia, *ib)) {
            return std::move(*exact);
        }
    }
    double x = a.get<double>();
    double y = b.get<double>();
    switch (op[0]) {
        case '+':
            return finite(x + y, col);
        case '-':
            return finite(x - y, col);
        case '*':
            return finite(x * y, col);
        case '/':
            return finite(x / y, col);
        default:
            return finite(std::fmod(x, y), col);
    }
}

Result<json> ordering(const std::string& op, const json& a, const json& b, std::size_t col) {
    bool numbers = a.is_number() && b.is_number();
    bool strings = a.is_string() && b.is_string();
    if (!numbers && !strings) {
        return fail("cannot compare " + describe_types(a, b) + " with '" + op + "'", col);
    }
    bool less = numbers ? a < b : a.get_ref<const std::string&>() < b.get_ref<const std::string&>();
    bool greater =
        numbers ? b < a : b.get_ref<const std::string&>() < a.get_ref<const std::string&>();
    if (op == "<") {
        return json(less);
    }
    if (op == "<=") {
        return json(!greater);
    }
    if (op == ">") {
        return json(greater);
    }
    return json(!less);
}

class Evaluator {
  public:
    Evaluator(const json& context, std::int64_t now_unix)
        : context_(context), now_unix_(now_unix) {}

    // Every value is checked against the size bound as it is made, so a doubling loop such
    // as `a + a + a ...` stops at the first result past it.
    Result<json> eval(const Node& node) {
        auto value = eval_node(node);
        if (value && value->is_string() &&
            value->get_ref<const std::string&>().size() > detail::kMaxStringBytes) {
            return fail("result longer than " + std::to_string(detail::kMaxStringBytes) + " bytes",
                        node.col);
        }
        return value;
    }

  private:
    Result<json> eval_node(const Node& node) {
        switch (node.kind) {
            case NodeKind::literal:
                return node.value;
            case NodeKind::root:
            case NodeKind::member:
            case NodeKind::index:
                return path(node);
            case NodeKind::unary:
                return unary(node);
            case NodeKind::binary:
                return binary(node);
            case NodeKind::call:
                return call(node);
        }
        return json(nullptr);
    }

    // Walks a path by pointer so a long path into a large event copies only its result.
    Result<json> path(const Node& node) {
        std::vector<const Node*> chain;
        const Node* base = &node;
        while (base->kind == NodeKind::member || base->kind == NodeKind::index) {
            chain.push_back(base);
            base = base->children[0].get();
        }
        json base_value;
        const json* at = nullptr;
        if (base->kind == NodeKind::root) {
            at = context_.is_object() ? step_into(&context_, json(base->name)) : nullptr;
        } else {
            auto value = eval(*base);
            if (!value) {
                return value;
            }
            base_value = std::move(*value);
            at = &base_value;
        }
        for (auto it = chain.rbegin(); it != chain.rend() && at != nullptr; ++it) {
            const Node& link = **it;
            if (link.kind == NodeKind::member) {
                at = step_into(at, json(link.name));
                continue;
            }
            auto key = eval(*link.children[1]);
            if (!key) {
                return key;
            }
            at = step_into(at, *key);
        }
        return at == nullptr ? json(nullptr) : *at;
    }

    Result<json> unary(const Node& node) {
        auto operand = eval(*node.children[0]);
        if (!operand) {
            return operand;
        }
        if (node.name == "!") {
            return json(!truthy(*operand));
        }
        if (auto i = as_int(*operand); i && *i != std::numeric_limits<std::int64_t>::min()) {
            return json(-*i);
        }
        if (operand->is_number()) {
            return json(-operand->get<double>());
        }
        return fail("'-' needs a number, got " + std::string(operand->type_name()), node.col);
    }

    Result<json> binary(const Node& node) {
        const auto& op = node.name;
        auto left = eval(*node.children[0]);
        if (!left) {
            return left;
        }
        // && and || short-circuit: the right side is not evaluated when the left decides.
        if (op == "&&" && !truthy(*left)) {
            return json(false);
        }
        if (op == "||" && truthy(*left)) {
            return json(true);
        }
        auto right = eval(*node.children[1]);
        if (!right) {
            return right;
        }
        if (op == "&&" || op == "||") {
            return json(truthy(*right));
        }
        if (op == "==") {
            return json(equal(*left, *right));
        }
        if (op == "!=") {
            return json(!equal(*left, *right));
        }
        if (op == "<" || op == "<=" || op == ">" || op == ">=") {
            return ordering(op, *left, *right, node.col);
        }
        return arithmetic(op, *left, *right, node.col);
    }

    Result<json> call(const Node& node) {
        std::vector<json> args;
        for (const auto& child : node.children) {
            auto value = eval(*child);
            if (!value) {
                return value;
            }
            args.push_back(std::move(*value));
        }
        return detail::call_function(node.name, args, node.col, now_unix_);
    }

    const json& context_;
    std::int64_t now_unix_;
};

void collect_members(const Node& node, std::string_view root, std::vector<std::string>& out) {
    bool names_member = (node.kind == NodeKind::member || node.kind == NodeKind::index) &&
                        node.children[0]->kind == NodeKind::root && node.children[0]->name == root;
    if (names_member && node.kind == NodeKind::member) {
        out.push_back(node.name);
    } else if (names_member && node.children[1]->kind == NodeKind::literal &&
               node.children[1]->value.is_string()) {
        out.push_back(node.children[1]->value.get<std::string>());
    }
    for (const auto& child : node.children) {
        collect_members(*child, root, out);
    }
}

// Finds the `}}` closing an expression that starts at `from`, skipping quoted strings so
// `${{ 'a}}b' }}` works.
std::size_t find_close(std::string_view text, std::size_t from) {
    bool quoted = false;
    for (auto i = from; i < text.size(); ++i) {
        if (text[i] == '\'') {
            quoted = !quoted;
        } else if (!quoted && text.compare(i, 2, "}}") == 0) {
            return i;
        }
    }
    return std::string_view::npos;
}

std::string interpolated(const json& value) {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_null()) {
        return {};
    }
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<json> render_string(const std::string& text, const json& context, const Clock& clock) {
    auto parts = detail::split_template(text);
    if (!parts) {
        return parts.error();
    }
    std::size_t expressions = 0;
    bool only_space = true;
    for (const auto& part : *parts) {
        expressions += part.is_expression ? 1 : 0;
        only_space = only_space && (part.is_expression || trim(part.text).empty());
    }
    if (expressions == 1 && only_space) {
        for (const auto& part : *parts) {
            if (part.is_expression) {
                return evaluate(part.text, context, clock);
            }
        }
    }
    std::string out;
    for (const auto& part : *parts) {
        if (!part.is_expression) {
            out += part.text;
            continue;
        }
        auto value = evaluate(part.text, context, clock);
        if (!value) {
            return value;
        }
        out += interpolated(*value);
        if (out.size() > detail::kMaxStringBytes) {
            return make_error(Errc::expression,
                              "template '" + excerpt(text) + "': result longer than " +
                                  std::to_string(detail::kMaxStringBytes) + " bytes");
        }
    }
    return json(std::move(out));
}

}  // namespace

namespace detail {

bool equal(const json& a, const json& b) {
    if (a.is_number() && b.is_number()) {
        return a == b;
    }
    if (a.type() != b.type()) {
        return false;
    }
    return a == b;
}

Result<std::vector<TemplatePart>> split_template(std::string_view text) {
    std::vector<TemplatePart> parts;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto open = text.find("${{", pos);
        if (open == std::string_view::npos) {
            parts.push_back({false, std::string(text.substr(pos))});
            break;
        }
        if (open > pos) {
            parts.push_back({false, std::string(text.substr(pos, open - pos))});
        }
        auto close = find_close(text, open + 3);
        if (close == std::string_view::npos) {
            return make_error(Errc::expression,
                              "template '" + excerpt(text) + "': unterminated '${{' at column " +
                                  std::to_string(open + 1));
        }
        parts.push_back({true, std::string(trim(text.substr(open + 3, close - open - 3)))});
        pos = close + 2;
    }
    return parts;
}

Result<std::vector<std::string>> referenced_members(std::string_view expression,
                                                    std::string_view root) {
    auto tree = parse(trim(expression));
    if (!tree) {
        return tree.error();
    }
    std::vector<std::string> names;
    collect_members(**tree, root, names);
    return names;
}

Result<std::vector<std::string>> referenced_steps(std::string_view expression) {
    return referenced_members(expression, "steps");
}

}  // namespace detail

Result<nlohmann::json> evaluate(std::string_view expression,
                                const nlohmann::json& context,
                                const Clock& clock) {
    auto text = trim(expression);
    auto tree = parse(text);
    if (!tree) {
        return tree.error();
    }
    auto value = Evaluator(context, clock.now_unix()).eval(**tree);
    if (!value) {
        return wrap(text, value.error());
    }
    return value;
}

Result<void> check_expression(std::string_view expression) {
    auto tree = parse(trim(expression));
    if (!tree) {
        return tree.error();
    }
    return {};
}

Result<nlohmann::json> render(const nlohmann::json& value,
                              const nlohmann::json& context,
                              const Clock& clock) {
    if (value.is_string()) {
        return render_string(value.get_ref<const std::string&>(), context, clock);
    }
    if (!value.is_array() && !value.is_object()) {
        return value;
    }
    json out = value.is_array() ? json::array() : json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
        auto rendered = render(*it, context, clock);
        if (!rendered) {
            return rendered;
        }
        if (value.is_array()) {
            out.push_back(std::move(*rendered));
        } else {
            out[it.key()] = std::move(*rendered);
        }
    }
    return out;
}

std::vector<std::string> expressions_in(std::string_view text) {
    std::vector<std::string> found;
    std::size_t pos = 0;
    while (true) {
        auto open = text.find("${{", pos);
        if (open == std::string_view::npos) {
            return found;
        }
        auto close = find_close(text, open + 3);
        if (close == std::string_view::npos) {
            return found;
        }
        found.emplace_back(trim(text.substr(open + 3, close - open - 3)));
        pos = close + 2;
    }
}

bool truthy(const nlohmann::json& value) {
    if (value.is_null()) {
        return false;
    }
    if (value.is_boolean()) {
        return value.get<bool>();
    }
    if (value.is_number()) {
        return value.get<double>() != 0.0;
    }
    if (value.is_string()) {
        return !value.get_ref<const std::string&>().empty();
    }
    return true;
}

}  // namespace hookflow::engine
