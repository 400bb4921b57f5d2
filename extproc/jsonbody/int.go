package jsonbody

// IntLiteral reads a JSON integer written plainly: digits only, no sign,
// fraction or exponent ("2.5" and "6e1" are not integers a client meant),
// at most nine of them so it cannot overflow. Callers check the range.
func IntLiteral(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 9 || (v[0] == '0' && len(v) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
