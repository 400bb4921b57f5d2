// Package state holds in-process live state for a single replica: continuity
// pins, per-key RPM windows and route health. Every call takes the current
// time as an argument; nothing here reads a clock or starts a goroutine.
package state
