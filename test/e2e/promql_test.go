package e2e

import (
	"errors"
	"fmt"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// errPromQL is a query the metric-name scan cannot read: an unterminated
// string, label matcher or range, or a selector that names its metric
// through __name__ (which the scan would miss).
var errPromQL = errors.New("promql")

// promqlKeywords are the words of PromQL that are not metric names even
// when no "(" follows them: aggregation operators (sum by (le) (...) puts
// "by" between the operator and its parenthesis), binary operators spelt
// as words, modifiers, and the number literals. PromQL reads them in any
// case.
var promqlKeywords = map[string]bool{
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "group": true,
	"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true,
	"count_values": true, "limitk": true, "limit_ratio": true,
	"and": true, "or": true, "unless": true, "atan2": true,
	"offset": true, "bool": true,
	"inf": true, "nan": true,
}

// promqlLabelLists are the modifiers whose parenthesis holds label names,
// not an expression: by (le, phase), on (route_id), group_left (alias).
var promqlLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// promqlMetricNames returns the metric names a PromQL expression selects,
// once each, in the order they first appear. It reads Grafana's variables
// ($route_id, ${datasource}, $__rate_interval) as the placeholders they
// are. It is a scan, not a parser: it finds names in well-formed queries
// and refuses the few inputs it cannot read rather than miss a name.
func promqlMetricNames(expr string) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '#': // a comment, to the end of the line
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			end, err := promqlSkipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{': // label matchers
			end, err := promqlSkipMatchers(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '[': // a range or subquery: durations and Grafana variables
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated range at %d in %q", errPromQL, i, expr)
			}
			i += end + 1
		case c == '$':
			i = promqlSkipVariable(expr, i)
		case promqlDigit(c) || (c == '.' && i+1 < len(expr) && promqlDigit(expr[i+1])):
			i = promqlSkipNumber(expr, i)
		case promqlNameStart(c):
			start := i
			for i < len(expr) && promqlNameChar(expr[i]) {
				i++
			}
			word := expr[start:i]
			next := promqlNextNonSpace(expr, i)
			lower := strings.ToLower(word)
			switch {
			case promqlLabelLists[lower]:
				if next < len(expr) && expr[next] == '(' {
					end := strings.IndexByte(expr[next:], ')')
					if end < 0 {
						return nil, fmt.Errorf("%w: unterminated label list after %q in %q", errPromQL, word, expr)
					}
					i = next + end + 1
				}
			case promqlKeywords[lower]:
			case next < len(expr) && expr[next] == '(': // a function
			default:
				if !seen[word] {
					seen[word] = true
					names = append(names, word)
				}
			}
		default: // operators, parentheses, commas, blanks
			i++
		}
	}
	return names, nil
}

// promqlSkipString returns the index after the string literal starting at i.
// Double- and single-quoted strings take backslash escapes; backquoted
// ones are raw.
func promqlSkipString(s string, i int) (int, error) {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: unterminated string at %d in %q", errPromQL, i, s)
}

// promqlSkipMatchers returns the index after the label matchers starting at i;
// a "}" inside a quoted value does not end them. A matcher on __name__
// selects a metric the scan cannot see, so it is refused.
func promqlSkipMatchers(s string, i int) (int, error) {
	for j := i + 1; j < len(s); {
		switch c := s[j]; {
		case c == '"' || c == '\'' || c == '`':
			end, err := promqlSkipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end
		case c == '}':
			return j + 1, nil
		case promqlNameStart(c):
			start := j
			for j < len(s) && promqlNameChar(s[j]) {
				j++
			}
			if s[start:j] == "__name__" {
				return 0, fmt.Errorf("%w: a selector names its metric by __name__ in %q; name it before the braces", errPromQL, s)
			}
		default:
			j++
		}
	}
	return 0, fmt.Errorf("%w: unterminated label matchers at %d in %q", errPromQL, i, s)
}

// promqlSkipVariable returns the index after a Grafana variable at i: ${name},
// ${name:format} or $name.
func promqlSkipVariable(s string, i int) int {
	if i+1 < len(s) && s[i+1] == '{' {
		if end := strings.IndexByte(s[i:], '}'); end >= 0 {
			return i + end + 1
		}
		return len(s)
	}
	j := i + 1
	for j < len(s) && (promqlNameChar(s[j]) && s[j] != ':') {
		j++
	}
	return j
}

// promqlSkipNumber returns the index after a number or duration at i: 0.99,
// 1e-3, 0x1f, 5m, 1h30m.
func promqlSkipNumber(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		switch {
		case promqlDigit(c) || promqlLetter(c) || c == '.' || c == '_':
			j++
		case (c == '+' || c == '-') && j > i && (s[j-1] == 'e' || s[j-1] == 'E') && !strings.HasPrefix(strings.ToLower(s[i:j]), "0x"):
			j++
		default:
			return j
		}
	}
	return j
}

func promqlNextNonSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func promqlDigit(c byte) bool     { return c >= '0' && c <= '9' }
func promqlLetter(c byte) bool    { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func promqlNameStart(c byte) bool { return promqlLetter(c) || c == '_' || c == ':' }
func promqlNameChar(c byte) bool  { return promqlNameStart(c) || promqlDigit(c) }

// grafanaVariableMetricNames returns the metric names a Prometheus
// template variable's query names. Grafana's variable queries are not
// PromQL but calls of its own: label_values(metric{...}, label) and
// label_values(label), query_result(promql), metrics(regex) and
// label_names(...); only a metric selector or query_result's PromQL names
// metrics.
func grafanaVariableMetricNames(query string) ([]string, error) {
	q := strings.TrimSpace(query)
	fn, rest, ok := strings.Cut(q, "(")
	if !ok || !strings.HasSuffix(rest, ")") {
		return nil, fmt.Errorf("%w: variable query %q is not a Grafana query function", errPromQL, query)
	}
	args := strings.TrimSuffix(rest, ")")
	switch strings.TrimSpace(fn) {
	case "label_values":
		// The label is the last argument; the selector, when there is one,
		// comes before it.
		cut := strings.LastIndexByte(args, ',')
		if cut < 0 {
			return nil, nil
		}
		return promqlMetricNames(args[:cut])
	case "query_result":
		return promqlMetricNames(args)
	case "metrics", "label_names":
		return nil, nil
	}
	return nil, fmt.Errorf("%w: variable query %q: unknown function %q", errPromQL, query, fn)
}

// seriesFamily tells the metric family a name used in a query belongs
// to, among the families an exposition holds. Counters and gauges are
// queried by their own name; a histogram only through its _bucket, _sum
// and _count series, a summary through its own name (the quantiles),
// _sum and _count.
func seriesFamily(name string, families map[string]*dto.MetricFamily) (string, bool) {
	if f, ok := families[name]; ok && f.GetType() != dto.MetricType_HISTOGRAM {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch families[base].GetType() {
		case dto.MetricType_HISTOGRAM:
			return base, true
		case dto.MetricType_SUMMARY:
			if suffix != "_bucket" {
				return base, true
			}
		}
	}
	return "", false
}
