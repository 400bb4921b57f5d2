package selector

import "github.com/shopspring/decimal"

// FormatPrice prints an exact decimal without trailing zeros and never in
// exponent form: "0.040" → "0.04", "10.00" → "10", "1e-7" → "0.0000001".
// It does not depend on the decimal package's global string settings.
func FormatPrice(d decimal.Decimal) string {
	n := d.Normalize()
	places := -n.Exponent()
	if places < 0 {
		places = 0
	}
	return n.StringFixed(places)
}
