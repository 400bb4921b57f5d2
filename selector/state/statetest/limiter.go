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

// LimiterWindowCases is the sliding-window table of api.md §7: admissions
// up to the limit, exact Remaining, Reset and Retry-After, Peek taking
// nothing, denials taking no slot.
func LimiterWindowCases() []LimiterCase {
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
		{Name: "a lower limit waits for enough admissions to leave", Steps: []LimiterStep{
			{At: 0, Limit: 5, Want: state.Admission{Allowed: true, Limit: 5, Remaining: 4, Reset: 60 * time.Second}},
			{At: 1 * time.Second, Limit: 5, Want: state.Admission{Allowed: true, Limit: 5, Remaining: 3, Reset: 59 * time.Second}},
			{At: 2 * time.Second, Limit: 5, Want: state.Admission{Allowed: true, Limit: 5, Remaining: 2, Reset: 58 * time.Second}},
			{At: 3 * time.Second, Limit: 5, Want: state.Admission{Allowed: true, Limit: 5, Remaining: 1, Reset: 57 * time.Second}},
			// 4 in the window, limit 2: retry when the 3rd oldest (t=2s) leaves.
			{At: 4 * time.Second, Limit: 2, Want: state.Admission{Limit: 2, Reset: 58 * time.Second, RetryAfter: 58 * time.Second}},
			{At: 62 * time.Second, Limit: 2, Want: state.Admission{Allowed: true, Limit: 2, Remaining: 0, Reset: time.Second}},
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
