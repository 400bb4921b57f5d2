package selector

import (
	"bytes"
	"encoding/json"
)

// buildMetaJSON renders the cpen_route fields that depend on the route only,
// without braces and without a leading or trailing comma.
func buildMetaJSON(r *Route) []byte {
	b := make([]byte, 0, 384)
	fields := [...]struct{ name, value string }{
		{"route_id", r.ID},
		{"intelligence_level", r.Level},
		{"model_family", r.ModelFamily},
		{"input_per_1m", FormatPrice(r.InputPer1M)},
		{"output_per_1m", FormatPrice(r.OutputPer1M)},
		{"currency", r.Currency},
		{"input_usd_per_1m", FormatPrice(r.InputUSD)},
		{"output_usd_per_1m", FormatPrice(r.OutputUSD)},
		{"estimated_cost_usd_per_1m", FormatPrice(r.EstimatedCost)},
		{"cpen_fee_rate", FormatPrice(r.FeeRate)},
		{"estimated_total_usd_per_1m", FormatPrice(r.EstimatedTotal)},
	}
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.name)
		b = append(b, ':')
		b = appendJSONString(b, f.value)
	}
	return b
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		// Encoding a string cannot fail; keep a valid literal regardless.
		return append(b, `""`...)
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
