package selector

import (
	"bytes"
	"encoding/json"
)

// routeMeta is the part of cpen_route that depends on the route only.
type routeMeta struct {
	RouteID           string `json:"route_id"`
	IntelligenceLevel string `json:"intelligence_level"`
	ModelFamily       string `json:"model_family"`
	InputPer1M        string `json:"input_per_1m"`
	OutputPer1M       string `json:"output_per_1m"`
	Currency          string `json:"currency"`
	InputUSD          string `json:"input_usd_per_1m"`
	OutputUSD         string `json:"output_usd_per_1m"`
	EstimatedCost     string `json:"estimated_cost_usd_per_1m"`
	FeeRate           string `json:"cpen_fee_rate"`
	EstimatedTotal    string `json:"estimated_total_usd_per_1m"`
}

// buildMetaJSON renders the cpen_route fields that depend on the route only,
// without braces and without a leading or trailing comma. It runs once per
// route when a catalog is compiled, so it takes encoding/json's path.
func buildMetaJSON(r *Route) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Catalog text stays as written: "&" is not "\u0026".
	enc.SetEscapeHTML(false)
	if err := enc.Encode(routeMeta{
		RouteID:           r.ID,
		IntelligenceLevel: r.Level,
		ModelFamily:       r.ModelFamily,
		InputPer1M:        FormatPrice(r.InputPer1M),
		OutputPer1M:       FormatPrice(r.OutputPer1M),
		Currency:          r.Currency,
		InputUSD:          FormatPrice(r.InputUSD),
		OutputUSD:         FormatPrice(r.OutputUSD),
		EstimatedCost:     FormatPrice(r.EstimatedCost),
		FeeRate:           FormatPrice(r.FeeRate),
		EstimatedTotal:    FormatPrice(r.EstimatedTotal),
	}); err != nil {
		// A struct of strings always encodes; keep the object valid anyway.
		return []byte(`"route_id":""`)
	}
	out := bytes.TrimSpace(b.Bytes())
	return out[1 : len(out)-1]
}

// jsonString renders s as a JSON string, as catalog text is written (no
// HTML escaping); it runs once per tier and route when a catalog compiles.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return []byte(`""`)
	}
	out := bytes.TrimSpace(b.Bytes())
	return out[:len(out):len(out)] // shared by every request: no room to append into
}
