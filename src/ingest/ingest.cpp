#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <hookflow/common/json_limits.hpp>
#include <hookflow/common/log.hpp>
#include <hookflow/common/metrics.hpp>
#include <hookflow/engine/expression.hpp>
#include <hookflow/http/forwarded.hpp>
#include <hookflow/http/router.hpp>
#include <hookflow/ingest/ingest.hpp>
#include <hookflow/store/awaitable.hpp>

namespace hookflow::ingest {

namespace beast_http = boost::beast::http;
using nlohmann::json;

namespace {

constexpr std::string_view kHooksPrefix = "/hooks/";

/// A verified delivery: the body as workflows see it and the events it holds.
struct Verified {
    json body;
    std::vector<verify::Item> items;
};

/// What storing a delivery's events did.
struct Outcome {
    std::vector<store::EnqueueResult> stored;
    int runs = 0;
};

Headers headers_of(const http::Request& request) {
    Headers headers;
    for (const auto& field : request) {
        headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return headers;
}

std::string headers_json(const Headers& headers) {
    json array = json::array();
    for (const auto& [name, value] : headers) {
        array.push_back({name, value});
    }
    return array.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string source_name(std::string_view target) {
    auto path = http::path_of(target);
    return path.starts_with(kHooksPrefix) ? std::string(path.substr(kHooksPrefix.size())) : "";
}

std::string source_name(const http::Request& request) {
    return source_name(std::string_view(request.target().data(), request.target().size()));
}

bool is_form(const Headers& headers) {
    auto type = find_header(headers, "Content-Type");
    return type && type->starts_with("application/x-www-form-urlencoded");
}

// Providers that send form bodies; the others send JSON whatever the content type says.
bool takes_forms(std::string_view provider) {
    return provider == "twilio" || provider == "github" || provider == "slack" ||
           provider == "hmac" || provider == "none";
}

// The bytes of each element of a JSON array that already parsed, in order, so that each event
// of a batch is stored exactly as the provider wrote it (a re-serialization would change
// numbers such as `1.50` and escapes such as `\u2028`).
std::vector<std::string_view> array_elements(std::string_view array) {
    std::vector<std::string_view> elements;
    int depth = 0;
    bool in_string = false;
    std::size_t start = std::string_view::npos;
    for (std::size_t i = 0; i < array.size(); ++i) {
        char c = array[i];
        bool blank = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (in_string) {
            i += (c == '\\') ? 1 : 0;
            in_string = c != '"';
            continue;
        }
        if (depth == 1 && start == std::string_view::npos && !blank && c != ',' && c != ']') {
            start = i;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            c = ',';  // the closing bracket ends the last element like a comma
        }
        if (depth <= 1 && c == ',' && start != std::string_view::npos) {
            auto text = array.substr(start, i - start);
            while (!text.empty() && (text.back() == ' ' || text.back() == '\t' ||
                                     text.back() == '\n' || text.back() == '\r')) {
                text.remove_suffix(1);
            }
            elements.push_back(text);
            start = std::string_view::npos;
        }
    }
    return elements;
}

// GitHub's form deliveries carry the JSON event in the `payload` field.
Result<json> github_form(const json& form) {
    if (form.contains("payload") && form["payload"].is_string()) {
        const auto& text = form["payload"].get_ref<const std::string&>();
        auto payload = parse_json_bounded(text);
        if (payload && payload->is_object()) {
            return std::move(payload.value());
        }
    }
    return make_error(Errc::bad_request, "form body has no JSON object in 'payload'");
}

// The body as the provider sends it: a JSON object (a JSON array for batch providers), or a
// form that becomes an object of strings. Anything else is refused before storing.
Result<json> parse_body(const Source& source, const Headers& headers, std::string_view body) {
    const auto& provider = source.config.provider;
    if (is_form(headers) && takes_forms(provider) && !body.starts_with("{")) {
        auto form = form_to_json(body);
        return provider == "github" ? github_form(form) : Result<json>(std::move(form));
    }
    if (json_too_deep(body)) {
        return make_error(Errc::bad_request, "body is nested too deeply");
    }
    auto parsed = json::parse(body, nullptr, false);
    bool batch = provider == "sendgrid" && parsed.is_array();
    if (parsed.is_discarded() || (!parsed.is_object() && !batch)) {
        return make_error(Errc::bad_request, "body is not a JSON object");
    }
    return parsed;
}

void log_rejection(std::string_view request_id,
                   std::string_view source,
                   std::string_view provider,
                   const Error& error) {
    metrics::record_rejection(provider == "-" ? std::string_view{} : source, error);
    spdlog::warn("delivery rejected {} {} {} {} {}",
                 logf::field(logf::kRequest, request_id),
                 logf::field(logf::kSource, source.substr(0, 64)),
                 logf::field(logf::kProvider, provider),
                 logf::field(logf::kReason, error.log_text),
                 logf::field(logf::kHttpStatus, http::status_for(error.code)));
}

http::Response reject(const http::Exchange& exchange,
                      const std::string& source,
                      std::string_view provider,
                      const Error& error) {
    log_rejection(exchange.request_id, source, provider, error);
    return http::error_response(error, exchange.request.version(), exchange.request.keep_alive());
}

// Every value of a header, joined with `,` as one list (X-Forwarded-For may come in several).
std::string joined_header(const Headers& headers, std::string_view name) {
    std::string list;
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) {
            list += (list.empty() ? "" : ",") + value;
        }
    }
    return list;
}

/// The URL a trusted proxy says the client called, or why there is none.
struct Forwarded {
    std::string url;
    std::string error;
};

// Only Twilio sources without a public_url need the URL (Twilio signs it); X-Forwarded-* headers
// count only from a peer in server.trusted_proxies.
Forwarded forwarded_of(const http::Exchange& exchange,
                       const Source& source,
                       const Headers& headers) {
    if (source.config.provider != "twilio" || !source.config.public_url.empty() ||
        exchange.trusted_proxies == nullptr || exchange.trusted_proxies->empty()) {
        return {};
    }
    auto proto = joined_header(headers, "X-Forwarded-Proto");
    auto host = joined_header(headers, "X-Forwarded-Host");
    auto prefix = joined_header(headers, "X-Forwarded-Prefix");
    auto host_header = joined_header(headers, "Host");
    const auto& target = exchange.request.target();
    auto url = http::forwarded_url(exchange.peer,
                                   http::ForwardedHeaders{proto, host, prefix, host_header},
                                   http::path_of(std::string_view(target.data(), target.size())),
                                   *exchange.trusted_proxies);
    if (!url) {
        return {"", "no public url configured and " + url.error().log_text};
    }
    return {std::move(url).value(), ""};
}

// Verifies the raw body as received, then parses it and reads the provider's ids.
Result<Verified> check(const Source& source,
                       const http::Exchange& exchange,
                       const Headers& headers,
                       std::int64_t now_unix) {
    const auto& request = exchange.request;
    auto forwarded = forwarded_of(exchange, source, headers);
    verify::Delivery delivery{headers,
                              request.body(),
                              std::string_view(request.target().data(), request.target().size()),
                              now_unix,
                              forwarded.url,
                              forwarded.error};
    if (auto verified = source.verifier->verify(delivery); !verified) {
        return verified.error();
    }
    auto body = parse_body(source, headers, request.body());
    if (!body) {
        return body.error();
    }
    auto items = source.verifier->split(delivery, *body);
    if (!items) {
        return items.error();
    }
    if (items->empty()) {
        return make_error(Errc::bad_request, "body holds no events");
    }
    return Verified{std::move(body).value(), std::move(items).value()};
}

// Slack checks a new URL with a signed `url_verification`: answered at once, stored nowhere.
std::optional<http::Response> slack_challenge(const Source& source,
                                              const json& body,
                                              const http::Request& request) {
    if (source.config.provider != "slack" || !body.is_object() ||
        body.value("type", "") != "url_verification" || !body.contains("challenge")) {
        return std::nullopt;
    }
    json answer = {{"challenge", body["challenge"]}};
    return http::json_response(200, answer.dump(), request.version(), request.keep_alive());
}

http::Response answer(const http::Exchange& exchange,
                      const std::string& source,
                      const std::vector<verify::Item>& items,
                      const Outcome& outcome,
                      bool batch) {
    nlohmann::ordered_json body;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& stored = outcome.stored[i];
        metrics::record_delivery(source, stored.duplicate);
        spdlog::info("delivery {} {} {} {} {} {} {}",
                     stored.duplicate ? "duplicate" : "accepted",
                     logf::field(logf::kRequest, exchange.request_id),
                     logf::field(logf::kSource, source),
                     logf::field(logf::kEvent, stored.event_id),
                     logf::field(logf::kDelivery, items[i].delivery_id),
                     logf::field(logf::kType, items[i].type),
                     logf::field(logf::kRuns, stored.runs));
    }
    if (!batch) {
        const auto& stored = outcome.stored.front();
        body = {{"status", stored.duplicate ? "duplicate" : "accepted"},
                {"event_id", stored.event_id}};
        if (!stored.duplicate) {
            body["runs"] = stored.runs;
        }
    } else {
        auto ids = nlohmann::ordered_json::array();
        int duplicates = 0;
        for (const auto& stored : outcome.stored) {
            ids.push_back(stored.event_id);
            duplicates += stored.duplicate ? 1 : 0;
        }
        body = {{"status", "accepted"},
                {"event_ids", ids},
                {"duplicates", duplicates},
                {"runs", outcome.runs}};
    }
    return http::json_response(
        200, body.dump(), exchange.request.version(), exchange.request.keep_alive());
}

// The source's dedup_key, when it has one and it renders to something: the delivery id.
Result<std::string> dedup_key(const Source& source, const json& context) {
    if (source.config.dedup_key.empty()) {
        return std::string();
    }
    auto value = engine::render(source.config.dedup_key, context);
    if (!value) {
        return make_error(
            Errc::bad_request,
            "dedup_key of source " + source.config.name + ": " + value.error().log_text,
            "delivery has no dedup key");
    }
    if (value->is_null()) {
        return std::string();
    }
    return value->is_string() ? value->get<std::string>() : value->dump();
}

// A batch's events are stored one by one (each deduplicates on its own), each as the bytes of
// its array element; a single event keeps the raw body exactly as received.
std::vector<std::string> stored_bodies(const std::string& raw_body,
                                       const std::vector<verify::Item>& items,
                                       bool keep_raw) {
    std::vector<std::string> bodies;
    auto elements = keep_raw ? std::vector<std::string_view>{} : array_elements(raw_body);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (keep_raw) {
            bodies.push_back(raw_body);
        } else {
            bodies.push_back(elements.size() == items.size() ? std::string(elements[i])
                                                             : items[i].body.dump());
        }
    }
    return bodies;
}

boost::asio::awaitable<Result<Outcome>> store_items(store::Store& store,
                                                    const engine::WorkflowSet& workflows,
                                                    const Source& source,
                                                    const Headers& headers,
                                                    const std::string& raw_body,
                                                    std::int64_t received_ms,
                                                    const std::vector<verify::Item>& items,
                                                    bool keep_raw) {
    Outcome outcome;
    const auto& name = source.config.name;
    auto stored_headers = headers_json(headers);
    auto bodies = stored_bodies(raw_body, items, keep_raw);
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& item = items[i];
        store::EventRow row{"",
                            name,
                            source.config.provider,
                            item.delivery_id,
                            item.type,
                            received_ms,
                            stored_headers,
                            std::move(bodies[i])};
        json context = {{"event", item.body}, {"delivery", engine::delivery_context(row)}};
        if (auto key = dedup_key(source, context); !key) {
            co_return key.error();
        } else if (!key->empty()) {
            row.delivery_id = *key;
            context["delivery"]["id"] = *key;
        }
        auto runs = workflows.match(name, item.type, context);
        store::NewEvent event{row.source,
                              row.provider,
                              row.delivery_id,
                              row.type,
                              row.received_at_ms,
                              row.headers_json,
                              row.body};
        auto stored = co_await store::async_call<store::EnqueueResult>(
            [&](auto done) { store.enqueue(std::move(event), std::move(runs), std::move(done)); });
        if (!stored) {
            co_return stored.error();
        }
        outcome.runs += stored->runs;
        outcome.stored.push_back(*stored);
    }
    co_return outcome;
}

}  // namespace

Result<std::map<std::string, Source>> build_sources(const config::Config& config) {
    std::map<std::string, Source> sources;
    for (const auto& [name, source_config] : config.sources) {
        auto verifier = verify::make_verifier(source_config);
        if (!verifier) {
            return verifier.error();
        }
        for (const auto& expression : engine::expressions_in(source_config.dedup_key)) {
            if (auto checked = engine::check_expression(expression); !checked) {
                return make_error(Errc::invalid_config,
                                  "source " + name + ": dedup_key: " + checked.error().log_text);
            }
        }
        if (source_config.provider == "none") {
            spdlog::warn("source verifies nothing: anyone can post to it {} {}",
                         logf::field(logf::kSource, name),
                         logf::field(logf::kProvider, source_config.provider));
        } else if (!verify::has_credentials(source_config)) {
            std::string missing;
            for (const auto& var : source_config.missing_vars) {
                missing += (missing.empty() ? "" : ",") + var;
            }
            spdlog::warn("source has no secret and will reject every delivery {} {} {}",
                         logf::field(logf::kSource, name),
                         logf::field(logf::kProvider, source_config.provider),
                         logf::field("missing", missing.empty() ? "secrets" : missing));
        }
        sources.emplace(name, Source{source_config, std::move(verifier).value()});
    }
    return sources;
}

Ingest::Ingest(std::map<std::string, Source> sources,
               store::Store& store,
               const Clock& clock,
               std::function<void()> on_enqueued)
    : sources_(std::move(sources)),
      store_(store),
      clock_(clock),
      on_enqueued_(std::move(on_enqueued)),
      workflows_(std::make_shared<engine::WorkflowSet>(
          std::vector<std::shared_ptr<const engine::Workflow>>{})) {}

void Ingest::log_refused(std::string_view target, const Error& error) const {
    auto source = source_name(target);
    if (!source.empty()) {
        auto found = sources_.find(source);
        log_rejection(
            "-", source, found == sources_.end() ? "-" : found->second.config.provider, error);
    }
}

void Ingest::set_workflows(std::shared_ptr<const engine::WorkflowSet> workflows) {
    std::lock_guard lock(workflows_mutex_);
    workflows_ = std::move(workflows);
}

std::shared_ptr<const engine::WorkflowSet> Ingest::workflows() const {
    std::lock_guard lock(workflows_mutex_);
    return workflows_;
}

boost::asio::awaitable<http::Response> Ingest::handle(http::Exchange& exchange) {
    const auto& request = exchange.request;
    auto name = source_name(request);

    // Refuse what is not a delivery to a known source.
    auto found = sources_.find(name);
    if (found == sources_.end()) {
        co_return reject(exchange, name, "-", make_error(Errc::not_found, "unknown source"));
    }
    const auto& provider = found->second.config.provider;
    if (request.method() != beast_http::verb::post) {
        co_return reject(
            exchange, name, provider, make_error(Errc::method_not_allowed, "method not allowed"));
    }

    // Verify the signature over the raw body, then read the provider's ids.
    auto headers = headers_of(request);
    auto received_ms = clock_.now_ms();
    auto verified = check(found->second, exchange, headers, received_ms / 1000);
    if (!verified) {
        co_return reject(exchange, name, provider, verified.error());
    }
    if (auto challenge = slack_challenge(found->second, verified->body, request)) {
        co_return std::move(*challenge);
    }

    // Store each event with its runs; answer only after every commit holds them.
    auto workflows = this->workflows();
    auto outcome = co_await store_items(store_,
                                        *workflows,
                                        found->second,
                                        headers,
                                        request.body(),
                                        received_ms,
                                        verified->items,
                                        verified->body.is_object());
    if (!outcome) {
        co_return reject(exchange, name, provider, outcome.error());
    }
    if (outcome->runs > 0 && on_enqueued_) {
        on_enqueued_();
    }
    co_return answer(exchange, name, verified->items, *outcome, !verified->body.is_object());
}

}  // namespace hookflow::ingest
