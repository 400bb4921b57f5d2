// Package load is the load engine of the ext_proc benchmarks. It plays
// Envoy's ext_proc client for POST /v1/chat/completions exactly as the Envoy
// stand-in (test/standin) does with request and response bodies BUFFERED:
// one Process stream per request carrying request_headers, the whole
// request_body, response_headers and the whole response_body, each sent
// once the previous answer arrived, and the stream reset after the last
// answer. Streams go round-robin over several HTTP/2 connections, driven by
// closed-loop workers (Drive, also used for the HTTP-level runs).
//
// A run lasts a time window or, where exact comparisons matter (counting
// instructions), a fixed number of exchanges. It reports exchanges per
// second, latency per exchange (stream open to last answer) at
// p50/p90/p99/max, the server process's CPU time per exchange and RSS read
// from /proc/<pid>, and the generator's own CPU, so a reader can tell when
// the generator, not the server, is the bottleneck.
package load
