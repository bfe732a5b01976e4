#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <hookflow/common/log.hpp>
#include <hookflow/http/router.hpp>
#include <hookflow/ingest/ingest.hpp>
#include <hookflow/store/awaitable.hpp>

namespace hookflow::ingest {

namespace beast_http = boost::beast::http;
using nlohmann::json;

namespace {

constexpr std::string_view kHooksPrefix = "/hooks/";

/// Everything ingest learned about one delivery on its way to the store.
struct Accepted {
    const Source* source = nullptr;
    verify::Identity identity;
    json body;
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

// Only JSON objects are what the JSON providers send; anything else is refused before storing.
Result<json> parse_object(std::string_view body) {
    auto parsed = json::parse(body, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        return make_error(Errc::bad_request, "body is not a JSON object");
    }
    return parsed;
}


void log_rejection(std::string_view request_id, std::string_view source, const Error& error) {
    spdlog::warn("delivery rejected {} {} {} {}",
                 logf::field(logf::kRequest, request_id),
                 logf::field(logf::kSource, source),
                 logf::field(logf::kReason, error.log_text),
                 logf::field(logf::kHttpStatus, http::status_for(error.code)));
}

http::Response reject(const http::Exchange& exchange, const std::string& source, const Error& error) {
    log_rejection(exchange.request_id, source, error);
    return http::error_response(error, exchange.request.version(), exchange.request.keep_alive());
}

// Verifies the raw body as received, then parses it and reads the provider's ids.
Result<Accepted> check(const Source& source, const http::Request& request, const Headers& headers,
                       std::int64_t now_unix) {
    verify::Delivery delivery{headers,
                              request.body(),
                              std::string_view(request.target().data(), request.target().size()),
                              now_unix};
    if (auto verified = source.verifier->verify(delivery); !verified) {
        return verified.error();
    }
    auto body = parse_object(request.body());
    if (!body) {
        return body.error();
    }
    auto identity = source.verifier->identify(delivery, *body);
    if (!identity) {
        return identity.error();
    }
    return Accepted{&source, std::move(identity).value(), std::move(body).value()};
}


http::Response answer(const http::Exchange& exchange,
                      const store::EventRow& row,
                      const store::EnqueueResult& stored) {
    nlohmann::ordered_json body = {{"status", stored.duplicate ? "duplicate" : "accepted"}, {"event_id", stored.event_id}};
    if (!stored.duplicate) {
        body["runs"] = stored.runs;
    }
    spdlog::info("delivery {} {} {} {} {} {} {}",
                 stored.duplicate ? "duplicate" : "accepted",
                 logf::field(logf::kRequest, exchange.request_id),
                 logf::field(logf::kSource, row.source),
                 logf::field(logf::kEvent, stored.event_id),
                 logf::field(logf::kDelivery, row.delivery_id),
                 logf::field(logf::kType, row.type),
                 logf::field(logf::kRuns, stored.runs));
    return http::json_response(200, body.dump(), exchange.request.version(),
                               exchange.request.keep_alive());
}

}  // namespace

Result<std::map<std::string, Source>> build_sources(const config::Config& config) {
    std::map<std::string, Source> sources;
    for (const auto& [name, source_config] : config.sources) {
        auto verifier = verify::make_verifier(source_config);
        if (!verifier) {
            return verifier.error();
        }
        if (source_config.secrets.empty()) {
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
        log_rejection("-", source, error);
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

}  // namespace hookflow::ingest

namespace hookflow::ingest {

boost::asio::awaitable<http::Response> Ingest::handle(http::Exchange& exchange) {
    const auto& request = exchange.request;
    auto name = source_name(request);

    // Refuse what is not a delivery to a known source.
    if (request.method() != beast_http::verb::post) {
        co_return reject(exchange, name, make_error(Errc::method_not_allowed, "method not allowed"));
    }
    auto found = sources_.find(name);
    if (found == sources_.end()) {
        co_return reject(exchange, name, make_error(Errc::not_found, "unknown source"));
    }

    // Verify the signature over the raw body, then read the provider's ids.
    auto headers = headers_of(request);
    auto received_ms = clock_.now_ms();
    auto accepted = check(found->second, request, headers, received_ms / 1000);
    if (!accepted) {
        co_return reject(exchange, name, accepted.error());
    }

    // Match workflows and store the event with its runs in one commit.
    store::EventRow row{"", name, found->second.config.provider, accepted->identity.delivery_id,
                        accepted->identity.type, received_ms, headers_json(headers), request.body()};
    json context = {{"event", accepted->body}, {"delivery", engine::delivery_context(row)}};
    auto runs = workflows()->match(name, accepted->identity.type, context);
    store::NewEvent event{row.source, row.provider, row.delivery_id, row.type,
                          row.received_at_ms, row.headers_json, row.body};
    auto stored = co_await store::async_call<store::EnqueueResult>([&](auto done) {
        store_.enqueue(std::move(event), std::move(runs), std::move(done));
    });
    if (!stored) {
        co_return reject(exchange, name, stored.error());
    }

    // Answer only now that the commit holds the event.
    if (!stored->duplicate && stored->runs > 0 && on_enqueued_) {
        on_enqueued_();
    }
    co_return answer(exchange, row, *stored);
}

}  // namespace hookflow::ingest
