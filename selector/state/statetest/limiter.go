// Package statetest holds the behaviour every implementation of the
// sidecar's shared state must show, so the in-process limiter and the
// Redis one are held to one table.
package statetest

import (
	"time"

	"github.com/cpen/router/selector/state"
)

// LimiterStep is one call: Admit, or Peek when Peek is set, at At after
// the test's start, with Limit; Want is the exact answer.
type LimiterStep struct {
	At    time.Duration
	Peek  bool
	Limit int
	Want  state.Admission
}

// LimiterCase is a sequence of calls on one key of a fresh limiter.
type LimiterCase struct {
	Name  string
	Steps []LimiterStep
}

// LimiterWindowCases is the sliding-window table: admissions up to the
// limit, exact Remaining, Reset and Retry-After, Peek taking nothing,
// denials taking no slot, and checks with different limits on one key
// all counting the same admissions.
//
// The rule, with n the key's admissions in the window and L the check's
// limit: an admission at a counts while now < a + 60 s; the check passes
// iff n < L; Remaining is L - n after the check (0 on a denial); Reset is
// until the oldest admission leaves (0 when none is left); a denial's
// RetryAfter is until the (n - L + 1)-th oldest leaves, at least 1 s.
func LimiterWindowCases() []LimiterCase {
	return append(fixedLimitCases(), mixedLimitCases()...)
}

func fixedLimitCases() []LimiterCase {
	return []LimiterCase{
		{Name: "admit up to the limit, deny, slide", Steps: []LimiterStep{
			{At: 0, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 2, Reset: 60 * time.Second}},
			{At: 10 * time.Second, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 1, Reset: 50 * time.Second}},
			{At: 20 * time.Second, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 0, Reset: 40 * time.Second}},
			{At: 30 * time.Second, Limit: 3, Want: state.Admission{Limit: 3, Reset: 30 * time.Second, RetryAfter: 30 * time.Second}},
			{At: 59*time.Second + 999*time.Millisecond, Limit: 3, Want: state.Admission{Limit: 3, Reset: time.Millisecond, RetryAfter: time.Second}},
			{At: 60 * time.Second, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 0, Reset: 10 * time.Second}},
			{At: 60 * time.Second, Limit: 3, Want: state.Admission{Limit: 3, Reset: 10 * time.Second, RetryAfter: 10 * time.Second}},
			{At: 200 * time.Second, Peek: true, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 3}},
		}},
		{Name: "peek takes nothing", Steps: []LimiterStep{
			{At: 0, Peek: true, Limit: 1, Want: state.Admission{Allowed: true, Limit: 1, Remaining: 1}},
			{At: 0, Peek: true, Limit: 1, Want: state.Admission{Allowed: true, Limit: 1, Remaining: 1}},
			{At: time.Second, Limit: 1, Want: state.Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: 60 * time.Second}},
			{At: 2 * time.Second, Peek: true, Limit: 1, Want: state.Admission{Limit: 1, Reset: 59 * time.Second, RetryAfter: 59 * time.Second}},
			{At: 3 * time.Second, Peek: true, Limit: 2, Want: state.Admission{Allowed: true, Limit: 2, Remaining: 1, Reset: 58 * time.Second}},
		}},
		{Name: "denials take no slot", Steps: []LimiterStep{
			{At: 0, Limit: 1, Want: state.Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: 60 * time.Second}},
			{At: time.Second, Limit: 1, Want: state.Admission{Limit: 1, Reset: 59 * time.Second, RetryAfter: 59 * time.Second}},
			{At: 2 * time.Second, Limit: 1, Want: state.Admission{Limit: 1, Reset: 58 * time.Second, RetryAfter: 58 * time.Second}},
			{At: 60 * time.Second, Limit: 1, Want: state.Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: 60 * time.Second}},
		}},
		{Name: "no limit", Steps: []LimiterStep{
			{At: 0, Limit: 0, Want: state.Admission{Allowed: true}},
			{At: 0, Limit: -1, Want: state.Admission{Allowed: true}},
		}},
		{Name: "limit is capped at a million", Steps: []LimiterStep{
			{At: 0, Limit: 5_000_000, Want: state.Admission{Allowed: true, Limit: 1_000_000, Remaining: 999_999, Reset: 60 * time.Second}},
		}},
		// Nanosecond times: a Redis sorted set scored by float64 could not
		// hold them at today's Unix time.
		{Name: "nanosecond exact", Steps: []LimiterStep{
			{At: 1, Limit: 2, Want: state.Admission{Allowed: true, Limit: 2, Remaining: 1, Reset: 60 * time.Second}},
			{At: 3, Limit: 2, Want: state.Admission{Allowed: true, Limit: 2, Remaining: 0, Reset: 60*time.Second - 2}},
			{At: 60*time.Second + 0, Limit: 2, Want: state.Admission{Limit: 2, Reset: 1, RetryAfter: time.Second}},
			{At: 60*time.Second + 1, Limit: 2, Want: state.Admission{Allowed: true, Limit: 2, Remaining: 0, Reset: 2}},
			{At: 60*time.Second + 2, Peek: true, Limit: 2, Want: state.Admission{Limit: 2, Reset: 1, RetryAfter: time.Second}},
			{At: 60*time.Second + 3, Peek: true, Limit: 2, Want: state.Admission{Allowed: true, Limit: 2, Remaining: 1, Reset: 60*time.Second - 2}},
		}},
		{Name: "clock stepping back records at the newest admission", Steps: []LimiterStep{
			{At: 10 * time.Second, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 2, Reset: 60 * time.Second}},
			{At: 5 * time.Second, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 1, Reset: 65 * time.Second}},
			{At: 69 * time.Second, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 0, Reset: time.Second}},
			{At: 70 * time.Second, Peek: true, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 2, Reset: 59 * time.Second}},
		}},
	}
}

func mixedLimitCases() []LimiterCase {
	return []LimiterCase{
		{Name: "a lower limit waits for enough admissions to leave", Steps: []LimiterStep{
			{At: 0, Limit: 5, Want: state.Admission{Allowed: true, Limit: 5, Remaining: 4, Reset: 60 * time.Second}},
			{At: 1 * time.Second, Limit: 5, Want: state.Admission{Allowed: true, Limit: 5, Remaining: 3, Reset: 59 * time.Second}},
			{At: 2 * time.Second, Limit: 5, Want: state.Admission{Allowed: true, Limit: 5, Remaining: 2, Reset: 58 * time.Second}},
			{At: 3 * time.Second, Limit: 5, Want: state.Admission{Allowed: true, Limit: 5, Remaining: 1, Reset: 57 * time.Second}},
			// 4 in the window, limit 2: retry when the 3rd oldest (t=2s)
			// leaves; Reset still follows the oldest (t=0).
			{At: 4 * time.Second, Limit: 2, Want: state.Admission{Limit: 2, Reset: 56 * time.Second, RetryAfter: 58 * time.Second}},
			// The limit-2 check removed nothing: the key's own limit
			// still sees 4.
			{At: 5 * time.Second, Peek: true, Limit: 5, Want: state.Admission{Allowed: true, Limit: 5, Remaining: 1, Reset: 55 * time.Second}},
			{At: 61 * time.Second, Limit: 2, Want: state.Admission{Limit: 2, Reset: time.Second, RetryAfter: time.Second}},
			{At: 62 * time.Second, Limit: 2, Want: state.Admission{Allowed: true, Limit: 2, Remaining: 0, Reset: time.Second}},
		}},
		{Name: "a lower limit counts every admission of the key", Steps: []LimiterStep{
			{At: 0, Limit: 20, Want: state.Admission{Allowed: true, Limit: 20, Remaining: 19, Reset: 60 * time.Second}},
			{At: 1 * time.Second, Limit: 20, Want: state.Admission{Allowed: true, Limit: 20, Remaining: 18, Reset: 59 * time.Second}},
			// 2 in the window: limit 1 waits for the 2nd oldest (t=1s),
			// limit 2 for the oldest.
			{At: 2 * time.Second, Limit: 1, Want: state.Admission{Limit: 1, Reset: 58 * time.Second, RetryAfter: 59 * time.Second}},
			{At: 3 * time.Second, Limit: 2, Want: state.Admission{Limit: 2, Reset: 57 * time.Second, RetryAfter: 57 * time.Second}},
			{At: 4 * time.Second, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 0, Reset: 56 * time.Second}},
			{At: 5 * time.Second, Limit: 20, Want: state.Admission{Allowed: true, Limit: 20, Remaining: 16, Reset: 55 * time.Second}},
			// 4 in the window (0, 1, 4, 5 s), limit 3: the 2nd oldest.
			{At: 6 * time.Second, Peek: true, Limit: 3, Want: state.Admission{Limit: 3, Reset: 54 * time.Second, RetryAfter: 55 * time.Second}},
			// t=0 left: 3 in the window, limit 3 waits for t=1s.
			{At: 60 * time.Second, Peek: true, Limit: 3, Want: state.Admission{Limit: 3, Reset: time.Second, RetryAfter: time.Second}},
			{At: 61 * time.Second, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 0, Reset: 3 * time.Second}},
			{At: 61 * time.Second, Peek: true, Limit: 20, Want: state.Admission{Allowed: true, Limit: 20, Remaining: 17, Reset: 3 * time.Second}},
		}},
		{Name: "retry after and reset under mixed limits", Steps: []LimiterStep{
			{At: 0, Limit: 10, Want: state.Admission{Allowed: true, Limit: 10, Remaining: 9, Reset: 60 * time.Second}},
			{At: 30 * time.Second, Limit: 10, Want: state.Admission{Allowed: true, Limit: 10, Remaining: 8, Reset: 30 * time.Second}},
			{At: 30*time.Second + 500*time.Millisecond, Limit: 10, Want: state.Admission{Allowed: true, Limit: 10, Remaining: 7, Reset: 29*time.Second + 500*time.Millisecond}},
			// 3 in the window (0, 30, 30.5 s) with half a second left for
			// the oldest: limit 2 waits for t=30s, limit 3 for t=0 (at
			// least a second), limit 4 passes.
			{At: 59*time.Second + 500*time.Millisecond, Peek: true, Limit: 2, Want: state.Admission{Limit: 2, Reset: 500 * time.Millisecond, RetryAfter: 30*time.Second + 500*time.Millisecond}},
			{At: 59*time.Second + 500*time.Millisecond, Peek: true, Limit: 3, Want: state.Admission{Limit: 3, Reset: 500 * time.Millisecond, RetryAfter: time.Second}},
			{At: 59*time.Second + 500*time.Millisecond, Peek: true, Limit: 4, Want: state.Admission{Allowed: true, Limit: 4, Remaining: 1, Reset: 500 * time.Millisecond}},
			{At: 60 * time.Second, Limit: 3, Want: state.Admission{Allowed: true, Limit: 3, Remaining: 0, Reset: 30 * time.Second}},
			// 3 in the window (30, 30.5, 60 s), limit 1: all must leave.
			{At: 89*time.Second + 900*time.Millisecond, Peek: true, Limit: 1, Want: state.Admission{Limit: 1, Reset: 100 * time.Millisecond, RetryAfter: 30*time.Second + 100*time.Millisecond}},
			{At: 90*time.Second + 200*time.Millisecond, Limit: 1, Want: state.Admission{Limit: 1, Reset: 300 * time.Millisecond, RetryAfter: 29*time.Second + 800*time.Millisecond}},
			{At: 120 * time.Second, Limit: 1, Want: state.Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: 60 * time.Second}},
		}},
		rpmCapInterleaved(),
	}
}

// rpmCapInterleaved is a key limited to 20 a minute whose requests
// alternate, every 10 ms for 2 s, between rpm_cap 1 (limit 1) and none
// (limit 20). Exactly 20 are admitted: the first limit-1 check, which
// finds the window empty, and the first 19 limit-20 ones. Every later
// limit-1 check is denied until the newest admission leaves.
func rpmCapInterleaved() LimiterCase {
	const (
		every    = 10 * time.Millisecond
		lastTake = 37 // the last step admitted: the 19th limit-20 check
	)
	var steps []LimiterStep
	for i := range 200 {
		at := time.Duration(i) * every
		reset := 60*time.Second - at // the oldest admission is at 0
		var want state.Admission
		switch {
		case i == 0:
			want = state.Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: reset}
		case i%2 == 0:
			newest := time.Duration(min(i-1, lastTake)) * every
			want = state.Admission{Limit: 1, Reset: reset, RetryAfter: newest + 60*time.Second - at}
		case i <= lastTake:
			// admitted: step 0 and the (i+1)/2 limit-20 steps so far
			want = state.Admission{Allowed: true, Limit: 20, Remaining: 20 - 1 - (i+1)/2, Reset: reset}
		default:
			want = state.Admission{Limit: 20, Reset: reset, RetryAfter: reset}
		}
		steps = append(steps, LimiterStep{At: at, Limit: want.Limit, Want: want})
	}
	newest := lastTake * every
	steps = append(steps,
		// The first admission left: one slot for the key's limit; none
		// for rpm_cap 1 until the newest leaves, 370 ms on (a second,
		// the least RetryAfter).
		LimiterStep{At: 60 * time.Second, Limit: 1, Want: state.Admission{Limit: 1, Reset: every, RetryAfter: time.Second}},
		LimiterStep{At: 60 * time.Second, Limit: 20, Want: state.Admission{Allowed: true, Limit: 20, Remaining: 0, Reset: every}},
		LimiterStep{At: 60 * time.Second, Limit: 20, Want: state.Admission{Limit: 20, Reset: every, RetryAfter: time.Second}},
		// Every admission of the first 2 s left; the one taken at 60 s
		// still holds rpm_cap 1 off.
		LimiterStep{At: 60*time.Second + newest, Limit: 1, Want: state.Admission{Limit: 1, Reset: 60*time.Second - newest, RetryAfter: 60*time.Second - newest}},
		LimiterStep{At: 120 * time.Second, Limit: 1, Want: state.Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: 60 * time.Second}},
	)
	return LimiterCase{Name: "rpm_cap 1 interleaved with the key's limit of 20", Steps: steps}
}
