package selector

import "github.com/shopspring/decimal"

// prices are the exact derived prices of one route, in USD per 1M tokens.
type prices struct {
	inputUSD, outputUSD         decimal.Decimal
	visibleInput, visibleOutput decimal.Decimal
	visibleTotal                decimal.Decimal
	estimatedCost               decimal.Decimal
	estimatedTotal              decimal.Decimal
}

// computePrices derives a route's prices in exact decimal arithmetic:
//
//	input_usd   = input_per_1m × usd_rate          (likewise output)
//	visible     = usd × (1 + fee_rate)
//	est cost    = share × input_usd + (1 − share) × output_usd
//	est total   = est cost × (1 + fee_rate)
//	visible total = visible input + visible output
func computePrices(inPer1M, outPer1M, usdRate, feeRate, inputShare decimal.Decimal) prices {
	one := decimal.New(1, 0)
	markup := one.Add(feeRate)
	var p prices
	p.inputUSD = inPer1M.Mul(usdRate)
	p.outputUSD = outPer1M.Mul(usdRate)
	p.visibleInput = p.inputUSD.Mul(markup)
	p.visibleOutput = p.outputUSD.Mul(markup)
	p.visibleTotal = p.visibleInput.Add(p.visibleOutput)
	p.estimatedCost = inputShare.Mul(p.inputUSD).Add(one.Sub(inputShare).Mul(p.outputUSD))
	p.estimatedTotal = p.estimatedCost.Mul(markup)
	return p
}
