package tracing

import (
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Span attribute keys. The gen_ai.*, http.* and error.type keys follow the
// OpenTelemetry semantic conventions so generic back ends recognise them;
// the cpen.* keys are the sidecar's own routing facts.
const (
	keyOperation    = attribute.Key("gen_ai.operation.name")
	keyRequestModel = attribute.Key("gen_ai.request.model")
	keyInputTokens  = attribute.Key("gen_ai.usage.input_tokens")
	keyOutputTokens = attribute.Key("gen_ai.usage.output_tokens")
	keyStatusCode   = semconv.HTTPResponseStatusCodeKey
	keyErrorType    = semconv.ErrorTypeKey
	keyRouteID      = attribute.Key("cpen.route_id")
	keyStrategy     = attribute.Key("cpen.strategy")
	keyReasonCode   = attribute.Key("cpen.reason_code")
	keyCostUSD      = attribute.Key("cpen.cost_usd")
)
