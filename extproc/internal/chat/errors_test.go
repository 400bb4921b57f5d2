package chat

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/selector"
)

// The unknown-model detail names the aliases of the catalog in force.
func TestOrList(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "an alias of the catalog"},
		{[]string{"cpen/low"}, "cpen/low"},
		{[]string{"cpen/low", "cpen/high"}, "cpen/low or cpen/high"},
		{[]string{"cpen/low", "cpen/middle", "cpen/high"}, "cpen/low, cpen/middle or cpen/high"},
	} {
		if got := orList(tc.in); got != tc.want {
			t.Errorf("orList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A tier that cannot route is refused with one code, and the cause (so
// the retry guidance) follows its catalog status: only a planned tier is
// final.
func TestTierUnavailableCause(t *testing.T) {
	for _, tc := range []struct {
		status config.TierStatus
		want   stream.Cause
		retry  string
	}{
		{config.TierPlanned, stream.CauseTierPlanned, "false"},
		{config.TierOutage, stream.CauseTierUnavailable, "true"},
		{config.TierAvailable, stream.CauseTierUnavailable, "true"}, // every route down
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			err := fmt.Errorf("select: %w", &selector.Error{Err: selector.ErrTierUnavailable, Alias: "cpen/high", Status: tc.status})
			var r *stream.Refusal
			if !errors.As(refuse(err), &r) {
				t.Fatalf("refuse(%v) is not a refusal", err)
			}
			if r.Cause() != tc.want || r.Cause().Code() != "tier_unavailable" || r.Cause().Retry().Header() != tc.retry {
				t.Errorf("cause %d (%s, retry %q), want %d (tier_unavailable, retry %q)",
					r.Cause(), r.Cause().Code(), r.Cause().Retry().Header(), tc.want, tc.retry)
			}
			if !errors.Is(r, selector.ErrTierUnavailable) {
				t.Errorf("refusal %q does not wrap the selector error", r.Error())
			}
		})
	}
}

// The 429 detail names the limit that was hit: the request's rpm_cap,
// the key's limit, or the guest limit of a keyless caller.
func TestRateLimitedDetail(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  rateLimitedError
		want string
	}{
		{"key", rateLimitedError{who: "key key_demo", limit: 60},
			"rate limit of 60 requests per minute exceeded for key key_demo (the key's limit)"},
		{"request cap", rateLimitedError{who: "key key_demo", limit: 2, clientCap: true},
			"rate limit of 2 requests per minute exceeded for key key_demo (routing.rpm_cap)"},
		{"guest", rateLimitedError{who: "guest address 203.0.113.7", limit: 2, guest: true},
			"rate limit of 2 requests per minute exceeded for guest address 203.0.113.7 (the guest limit)"},
		{"guest request cap", rateLimitedError{who: "guest address 203.0.113.7", limit: 1, clientCap: true, guest: true},
			"rate limit of 1 requests per minute exceeded for guest address 203.0.113.7 (routing.rpm_cap)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}
