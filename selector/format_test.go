package selector

import "testing"

func TestFormatPrice(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "trailing zero", in: "0.040", want: "0.04"},
		{name: "many trailing zeros", in: "0.280000000000", want: "0.28"},
		{name: "integer with fraction zeros", in: "10.00", want: "10"},
		{name: "zero", in: "0", want: "0"},
		{name: "zero with fraction", in: "0.000", want: "0"},
		{name: "exponent form small", in: "1e-7", want: "0.0000001"},
		{name: "exponent form large", in: "1.2e3", want: "1200"},
		{name: "plain", in: "0.054", want: "0.054"},
		{name: "integer", in: "12", want: "12"},
		{name: "long fraction kept exact", in: "0.0000000000001", want: "0.0000000000001"},
		{name: "million", in: "1000000", want: "1000000"},
		{name: "negative", in: "-0.50", want: "-0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatPrice(dec(t, tt.in)); got != tt.want {
				t.Errorf("FormatPrice(%s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
