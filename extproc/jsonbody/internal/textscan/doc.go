// Package textscan finds where a run of plain JSON string text ends: at
// the first '"', '\\' or control byte (below 0x20), the bytes that close
// a string, open an escape or may not appear raw. Validating a request
// body spends most of its time stepping over such runs, so the search is
// vectorised where the CPU allows it and done a word at a time elsewhere.
package textscan
