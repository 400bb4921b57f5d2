package selector

import "testing"

func TestComputePrices(t *testing.T) {
	tests := []struct {
		name                                 string
		in, out, rate, fee, share            string
		inUSD, outUSD, visIn, visOut, visTot string
		estCost, estTotal                    string
	}{
		{
			name: "seed worked example", in: "0.04", out: "0.24", rate: "1", fee: "0", share: "0.3",
			inUSD: "0.04", outUSD: "0.24", visIn: "0.04", visOut: "0.24", visTot: "0.28",
			estCost: "0.18", estTotal: "0.18",
		},
		{
			name: "EUR at 1.08", in: "0.05", out: "0.25", rate: "1.08", fee: "0", share: "0.3",
			inUSD: "0.054", outUSD: "0.27", visIn: "0.054", visOut: "0.27", visTot: "0.324",
			estCost: "0.2052", estTotal: "0.2052",
		},
		{
			name: "USD with a 10% fee", in: "0.04", out: "0.24", rate: "1", fee: "0.1", share: "0.3",
			inUSD: "0.04", outUSD: "0.24", visIn: "0.044", visOut: "0.264", visTot: "0.308",
			estCost: "0.18", estTotal: "0.198",
		},
		{
			name: "EUR with a 5% fee", in: "0.05", out: "0.25", rate: "1.08", fee: "0.05", share: "0.3",
			inUSD: "0.054", outUSD: "0.27", visIn: "0.0567", visOut: "0.2835", visTot: "0.3402",
			estCost: "0.2052", estTotal: "0.21546",
		},
		{
			name: "input share 0.5", in: "1", out: "3", rate: "1", fee: "0", share: "0.5",
			inUSD: "1", outUSD: "3", visIn: "1", visOut: "3", visTot: "4",
			estCost: "2", estTotal: "2",
		},
		{
			name: "digits beyond 12 are kept exactly", in: "0.123456789012", out: "0", rate: "1.0000000001", fee: "0", share: "0.3",
			inUSD: "0.1234567890243456789012", outUSD: "0", visIn: "0.1234567890243456789012", visOut: "0",
			visTot: "0.1234567890243456789012", estCost: "0.03703703670730370367036", estTotal: "0.03703703670730370367036",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := computePrices(dec(t, tt.in), dec(t, tt.out), dec(t, tt.rate), dec(t, tt.fee), dec(t, tt.share))
			checks := []struct {
				field string
				got   string
				want  string
			}{
				{"input_usd", FormatPrice(p.inputUSD), tt.inUSD},
				{"output_usd", FormatPrice(p.outputUSD), tt.outUSD},
				{"visible_input", FormatPrice(p.visibleInput), tt.visIn},
				{"visible_output", FormatPrice(p.visibleOutput), tt.visOut},
				{"visible_total", FormatPrice(p.visibleTotal), tt.visTot},
				{"estimated_cost", FormatPrice(p.estimatedCost), tt.estCost},
				{"estimated_total", FormatPrice(p.estimatedTotal), tt.estTotal},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %s, want %s", c.field, c.got, c.want)
				}
			}
		})
	}
}
