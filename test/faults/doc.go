// Package faults runs the sidecar's fault scenarios against real processes:
// the cpen-extproc binary, a real redis-server killed with SIGKILL and
// stopped with SIGSTOP, the Envoy stand-in and the mock providers made slow
// or failing. Each scenario drives closed-loop load and counts requests
// sent, succeeded, refused by status and lost, and the suite prints the
// results as a markdown table.
package faults
