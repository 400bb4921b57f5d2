package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
)

const upstreamSSE = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"upstream-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"upstream-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hé\"}}],\"usage\":null}\n\n" +
	": keep-alive\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"upstream-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n" +
	"data: [DONE]\n\n"

// streamRequest routes a "stream": true request, opens an event stream
// and returns the answers to every message.
func streamRequest(t *testing.T, msgs ...*extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
	t.Helper()
	s := newTestServer(t)
	req := strings.Replace(seedRequest, `"temperature":0.2`, `"stream":true`, 1)
	all := append([]*extprocv3.ProcessingRequest{reqHeaders("/v1/chat/completions", seedKey), reqBody(req),
		respHeaders("200", "text/event-stream", "content-length", "999")}, msgs...)
	return run(t, s, all...)
}

// The answer to the response headers switches the body to STREAMED and
// drops content-length; the upstream request asks for the usage chunk.
func TestStreamSwitch(t *testing.T) {
	out := streamRequest(t, respChunk(upstreamSSE, true))
	body := string(out[1].GetRequestBody().GetResponse().GetBodyMutation().GetBody())
	if !strings.HasSuffix(body, `"stream":true,"stream_options":{"include_usage":true}}`) {
		t.Errorf("upstream body %s", body)
	}
	mo := out[2].GetModeOverride()
	if mo.GetResponseBodyMode().String() != "STREAMED" {
		t.Errorf("mode override %v", mo)
	}
	if got := mutationOf(out[2].GetResponseHeaders().GetResponse()); !contains(got, "-content-length") {
		t.Errorf("response header mutation %q", got)
	}
}

// However the stream is cut into chunks, the bytes forwarded are the same:
// model → alias everywhere, cpen_route on the first data chunk, cpen_status
// on the usage chunk, comments and [DONE] untouched.
func TestStreamChunkSplits(t *testing.T) {
	whole := streamRequest(t, respChunk(upstreamSSE, true))
	want := string(whole[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	events := strings.Split(strings.TrimSuffix(want, "\n\n"), "\n\n")
	if len(events) != 5 || strings.Contains(want, "upstream-mini") || strings.Count(want, `"model":"cpen/middle"`) != 3 ||
		!strings.Contains(events[0], `"cpen_route":{`) || strings.Contains(events[1], "cpen_") || events[2] != ": keep-alive" ||
		!strings.Contains(events[3], `"cpen_status":"completed"`) || events[4] != "data: [DONE]" {
		t.Fatalf("rewritten stream:\n%s", want)
	}
	crlf := strings.ReplaceAll(upstreamSSE, "\n", "\r\n")
	wantCRLF := strings.ReplaceAll(want, "\n", "\r\n")
	cr := strings.ReplaceAll(upstreamSSE, "\n", "\r")
	wantCR := strings.ReplaceAll(want, "\n", "\r")
	for _, tc := range []struct{ name, in, want string }{{"lf", upstreamSSE, want}, {"crlf", crlf, wantCRLF}, {"cr", cr, wantCR}} {
		for i := 1; i < len(tc.in); i += 7 {
			for _, j := range []int{i, min(i+40, len(tc.in))} {
				out := streamRequest(t, respChunk(tc.in[:i], false), respChunk(tc.in[i:j], false), respChunk(tc.in[j:], false), respChunk("", true))
				var got strings.Builder
				for _, a := range out[3:] {
					bm := a.GetResponseBody().GetResponse().GetBodyMutation()
					if bm == nil {
						t.Fatalf("%s split %d/%d: a chunk was passed unedited", tc.name, i, j)
					}
					got.Write(bm.GetBody())
				}
				if got.String() != tc.want {
					t.Fatalf("%s split at %d/%d:\ngot  %q\nwant %q", tc.name, i, j, got.String(), tc.want)
				}
			}
		}
	}
}

// A provider that sends no usage chunk still ends with cpen_status, in a
// chunk of the sidecar's own before [DONE].
func TestStreamWithoutUsage(t *testing.T) {
	noUsage := "data: {\"id\":\"c\",\"model\":\"upstream-mini\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n"
	out := streamRequest(t, respChunk(noUsage, true))
	got := string(out[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	events := strings.Split(strings.TrimSuffix(got, "\n\n"), "\n\n")
	if len(events) != 3 || !strings.Contains(events[0], "cpen_route") ||
		events[1] != `data: {"object":"chat.completion.chunk","model":"cpen/middle","choices":[],"cpen_status":"completed","cpen_cost_usd":"`+streamBoundCost(t)+`"}` ||
		events[2] != "data: [DONE]" {
		t.Errorf("stream:\n%s", got)
	}
}

// streamExchange returns the chat processor of an exchange routed for a "stream": true request
// whose response headers opened an event stream, ready for streamChunk.
func streamExchange(tb testing.TB) *chat {
	tb.Helper()
	s := newTestServer(tb)
	x := s.Exchange(context.Background())
	req := strings.Replace(seedRequest, `"temperature":0.2`, `"stream":true`, 1)
	for _, m := range []*extprocv3.ProcessingRequest{reqHeaders("/v1/chat/completions", seedKey), reqBody(req),
		respHeaders("200", "text/event-stream")} {
		if _, err := x.Handle(m); err != nil {
			tb.Fatal(err)
		}
	}
	c := chatOf(tb, x)
	if !c.streaming || string(c.aliasJSON) != `"cpen/middle"` || len(c.routeJSON) == 0 {
		tb.Fatalf("not a rewritten stream: streaming %v, alias %s", c.streaming, c.aliasJSON)
	}
	return c
}

// feed runs chunks through a fresh stream, the last one with end of
// stream, and returns the bytes forwarded. Each chunk is overwritten once
// answered, as the request that carried it is gone by then.
func feed(x *chat, chunks ...[]byte) string {
	x.sse = sseState{}
	bound := x.credit.bound
	x.credit = creditState{bound: bound}
	var out []byte
	for i, c := range chunks {
		c = bytes.Clone(c)
		out = x.streamChunk(out, c, i == len(chunks)-1)
		for k := range c {
			c[k] = '#'
		}
	}
	return string(out)
}

// cutAt cuts s at the given ascending offsets.
func cutAt(s string, at ...int) [][]byte {
	var out [][]byte
	prev := 0
	for _, i := range at {
		out = append(out, []byte(s[prev:i]))
		prev = i
	}
	return append(out, []byte(s[prev:]))
}

// cutEvery cuts s into chunks of n bytes.
func cutEvery(s string, n int) [][]byte {
	var out [][]byte
	for i := 0; i < len(s); i += n {
		out = append(out, []byte(s[i:min(i+n, len(s))]))
	}
	return out
}

// The reference below reads an event stream the way the format defines,
// one whole stream at a time, with no regard for speed.

// refLine is one line of a stream and the bytes that ended it.
type refLine struct{ text, end string }

// refLines cuts a whole stream into lines: each ends at CRLF, LF or CR,
// whichever comes first, CRLF taken as one; the last may have no end.
func refLines(stream string) []refLine {
	var out []refLine
	for stream != "" {
		i := strings.IndexAny(stream, "\r\n")
		if i < 0 {
			return append(out, refLine{stream, ""})
		}
		end := stream[i : i+1]
		if strings.HasPrefix(stream[i:], "\r\n") {
			end = "\r\n"
		}
		out = append(out, refLine{stream[:i], end})
		stream = stream[i+len(end):]
	}
	return out
}

// refEvents groups lines into events, each ended by a blank line (kept as
// its last line); lines left after the last blank line make one more.
func refEvents(stream string) [][]refLine {
	var out [][]refLine
	var ev []refLine
	for _, l := range refLines(stream) {
		ev = append(ev, l)
		if l.text == "" {
			out, ev = append(out, ev), nil
		}
	}
	if ev != nil {
		out = append(out, ev)
	}
	return out
}

// refData returns an event's data (its data fields' values joined by LF)
// and how many data fields it has.
func refData(ev []refLine) (string, int) {
	var vals []string
	for _, l := range ev {
		if v, ok := refDataValue(l.text); ok {
			vals = append(vals, v)
		}
	}
	return strings.Join(vals, "\n"), len(vals)
}

// refDataValue returns the value of a data field: the field name is what
// precedes the first colon (the whole line if none), the value what
// follows it less one leading space.
func refDataValue(text string) (string, bool) {
	name, value, _ := strings.Cut(text, ":")
	return strings.TrimPrefix(value, " "), name == "data"
}

// refObject decodes data that is one JSON object; false for anything else.
func refObject(data string) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if !json.Valid([]byte(data)) || json.Unmarshal([]byte(data), &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// refStatusEvent is the chunk the sidecar adds when no chunk carried usage.
func refStatusEvent(t *testing.T, x *chat, withRoute bool) string {
	ev := `data: {"object":"chat.completion.chunk","model":"cpen/middle","choices":[],"cpen_status":"completed","cpen_cost_usd":"` +
		refBoundCost(t, x) + `"`
	if withRoute {
		ev += `,"cpen_route":` + string(x.routeJSON)
	}
	return ev + "}\n\n"
}

// checkRewrite checks out, the rewrite of the whole stream in, event by
// event against the reference: every event keeps its lines and line ends;
// an event whose data is one object has it rewritten (model → alias,
// cpen_route on the first, cpen_status on the first with usage), other
// events are unchanged; the status chunk comes before [DONE] or at the end
// when no chunk carried usage. The provider's model appears nowhere.
func checkRewrite(t *testing.T, x *chat, in, out string) {
	t.Helper()
	if strings.Contains(out, "upstream-mini") {
		t.Fatalf("the provider's model reached the client:\n%q", out)
	}
	got := refEvents(out)
	routeSent, statusSent, done := false, false, false
	next := func() []refLine {
		t.Helper()
		if len(got) == 0 {
			t.Fatalf("output has too few events:\n%q", out)
		}
		ev := got[0]
		got = got[1:]
		return ev
	}
	expectStatus := func() {
		t.Helper()
		ev := next()
		if want := refStatusEvent(t, x, !routeSent); ev[0].text+ev[0].end+ev[1].text+ev[1].end != want || len(ev) != 2 {
			t.Fatalf("status event %q, want %q", ev, want)
		}
		routeSent, statusSent = true, true
	}
	for _, ev := range refEvents(in) {
		data, n := refData(ev)
		if n == 1 && data == "[DONE]" {
			if !statusSent && !done {
				expectStatus()
			}
			done = true
		}
		g := next()
		obj, isObj := refObject(data)
		if !isObj {
			if !slices.Equal(g, ev) {
				t.Fatalf("event changed:\ngot  %q\nwant %q", g, ev)
			}
			continue
		}
		if len(g) != len(ev) {
			t.Fatalf("event has %d lines, want %d:\ngot  %q\nwant %q", len(g), len(ev), g, ev)
		}
		for i := range ev {
			_, isData := refDataValue(ev[i].text)
			if g[i].end != ev[i].end || (!isData && g[i].text != ev[i].text) {
				t.Fatalf("line %d changed:\ngot  %q\nwant %q", i, g[i], ev[i])
			}
		}
		obj["model"] = json.RawMessage(`"cpen/middle"`)
		if !routeSent {
			obj["cpen_route"] = json.RawMessage(x.routeJSON)
		}
		if u, ok := obj["usage"]; ok && string(u) != "null" && !statusSent {
			obj["cpen_status"] = json.RawMessage(`"completed"`)
			obj["cpen_cost_usd"] = json.RawMessage(`"` + refCost(t, x, u) + `"`)
			statusSent = true
		}
		routeSent = true
		gotData, _ := refData(g)
		gotObj, ok := refObject(gotData)
		if !ok || !maps.EqualFunc(gotObj, obj, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
			t.Fatalf("event data %s\nwant %v", gotData, obj)
		}
	}
	if !statusSent && !done {
		expectStatus()
	}
	if len(got) != 0 {
		t.Fatalf("output has %d events more than the reference: %q", len(got), got)
	}
}

// splitEvents is a stream's events, line by line: fields other than data,
// a comment, "data:" with no space, one object over two data lines.
var splitEvents = [][]string{
	{`data: {"id":"c","object":"chat.completion.chunk","model":"upstream-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}`},
	{": keep-alive"},
	{"event: message", "id: 7", `data:{"id":"c","model":"upstream-mini","choices":[{"index":0,"delta":{"content":"Hé"}}]}`},
	{`data: {"id":"c",`, ": between", `data: "model":"upstream-mini","choices":[{"index":0,"delta":{"content":"!"}}]}`},
	{"retry: 1000"},
	{`data: {"id":"c","model":"upstream-mini","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`},
	{"data: [DONE]"},
}

// shortEvents is a stream short enough to cut at every pair of offsets.
var shortEvents = [][]string{
	{`data: {"model":"upstream-mini"}`},
	{": c"},
	{`data:{"usage":{"n":1},"model":"upstream-mini"}`},
	{"data: [DONE]"},
}

// lineEnds name the ways a stream ends its lines. The mix never puts a
// lone CR before an LF, which would make the two one line end.
var lineEnds = []struct {
	name string
	ends []string
}{
	{"lf", []string{"\n"}},
	{"crlf", []string{"\r\n"}},
	{"cr", []string{"\r"}},
	{"mixed", []string{"\r\n", "\n", "\r", "\r"}},
}

// buildStream writes events with line ends taken in turn from ends.
func buildStream(events [][]string, ends []string) string {
	var b strings.Builder
	k := 0
	for _, ev := range events {
		for _, ln := range append(ev, "") {
			b.WriteString(ln)
			b.WriteString(ends[k%len(ends)])
			k++
		}
	}
	return b.String()
}

// However a stream is cut into chunks, and whichever line ends it uses,
// the bytes forwarded are the same, and they are the reference's rewrite.
func TestStreamSplitAnywhere(t *testing.T) {
	x := streamExchange(t)
	withoutUsage := slices.Delete(slices.Clone(splitEvents), 5, 6)
	for _, le := range lineEnds {
		for _, tc := range []struct {
			name   string
			events [][]string
		}{{"usage", splitEvents}, {"no-usage", withoutUsage}} {
			t.Run(le.name+"/"+tc.name, func(t *testing.T) {
				in := buildStream(tc.events, le.ends)
				if n := len(refEvents(in)); n != len(tc.events) {
					t.Fatalf("the reference reads %d events, want %d", n, len(tc.events))
				}
				want := feed(x, []byte(in))
				checkRewrite(t, x, in, want)
				for i := 0; i <= len(in); i++ {
					if got := feed(x, cutAt(in, i)...); got != want {
						t.Fatalf("cut at %d (%q|%q):\ngot  %q\nwant %q", i, in[:i], in[i:], got, want)
					}
				}
				for _, n := range []int{1, 2, 3, 5, 64} {
					if got := feed(x, cutEvery(in, n)...); got != want {
						t.Fatalf("cut every %d bytes:\ngot  %q\nwant %q", n, got, want)
					}
				}
			})
		}
	}
}

// A short stream cut at every pair of offsets.
func TestStreamSplitPairs(t *testing.T) {
	x := streamExchange(t)
	for _, le := range lineEnds {
		t.Run(le.name, func(t *testing.T) {
			in := buildStream(shortEvents, le.ends)
			want := feed(x, []byte(in))
			checkRewrite(t, x, in, want)
			for i := 0; i <= len(in); i++ {
				for j := i; j <= len(in); j++ {
					if got := feed(x, cutAt(in, i, j)...); got != want {
						t.Fatalf("cut at %d and %d:\ngot  %q\nwant %q", i, j, got, want)
					}
				}
			}
		})
	}
}

// A CR at the end of a chunk may be half of a CRLF: it is held until the
// next byte, or the end of the stream, tells.
func TestStreamHoldsFinalCR(t *testing.T) {
	x := streamExchange(t)
	const first = `data: {"model":"upstream-mini"}` + "\r\r"
	rewritten := `data: {"model":"cpen/middle","cpen_route":` + string(x.routeJSON) + "}"
	status := refStatusEvent(t, x, false)
	type step struct {
		chunk string
		eos   bool
		want  string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"an LF follows", []step{{first, false, ""}, {"\n", false, rewritten + "\r\r\n"}, {"", true, status}}},
		{"another line follows", []step{{first, false, ""}, {": c\r", false, rewritten + "\r\r"}, {"\n", false, ""},
			{"\r", false, ""}, {"", true, ": c\r\n\r" + status}}},
		{"the stream ends", []step{{first, false, ""}, {"", true, rewritten + "\r\r" + status}}},
		{"[DONE] follows", []step{{first, false, ""}, {"data: [DONE]\r\r", false, rewritten + "\r\r"},
			{"", true, status + "data: [DONE]\r\r"}}},
		{"CR then CRLF ends the event", []step{{`data: {"model":"upstream-mini"}` + "\r\r\n", false, rewritten + "\r\r\n"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x.sse = sseState{}
			for i, st := range tc.steps {
				if got := string(x.streamChunk(nil, []byte(st.chunk), st.eos)); got != st.want {
					t.Fatalf("step %d (%q): got %q, want %q", i, st.chunk, got, st.want)
				}
			}
		})
	}
}

// Event shapes, each answered exactly.
func TestStreamEventShapes(t *testing.T) {
	x := streamExchange(t)
	route := string(x.routeJSON)
	for _, tc := range []struct{ name, in, want string }{
		{"data without a space", `data:{"model":"upstream-mini"}` + "\n\n",
			`data: {"model":"cpen/middle","cpen_route":` + route + "}\n\n"},
		{"a field whose name starts with data", `dataset: {"model":"upstream-mini"}` + "\n\n",
			`dataset: {"model":"upstream-mini"}` + "\n\n"},
		{"a data field with no colon", "data\r\n\r\n", "data\r\n\r\n"},
		{"blank lines before an event", "\n\r\n" + `data: {"model":"upstream-mini"}` + "\n\n",
			"\n\r\n" + `data: {"model":"cpen/middle","cpen_route":` + route + "}\n\n"},
		{"one object over data lines with a comment between, CR ends",
			"id: 1\r" + `data: {"id":"c",` + "\r: note\r" + `data: "model":"upstream-mini"}` + "\r\r: held\r",
			"id: 1\r" + `data: {"id":"c",` + "\r: note\r" + `data: "model":"cpen/middle","cpen_route":` + route + "}\r\r"},
		{"a model whose value spans data lines",
			"data: {\"model\":[\r\ndata: 1],\"id\":\"c\"}\n\n",
			`data: {"model":"cpen/middle","id":"c","cpen_route":` + route + "}\r\n\n"},
		{"two objects in one event: each loses its model, no cpen field",
			`data: {"model":"upstream-mini"}` + "\n" + `data: {"model":"upstream-mini"}` + "\n\n" + `data: {"x":1}` + "\n\n",
			`data: {"model":"cpen/middle"}` + "\n" + `data: {"model":"cpen/middle"}` + "\n\n" + `data: {"x":1,"cpen_route":` + route + "}\n\n"},
		{"[DONE] with another field: the status chunk goes before the event",
			"id: 9\r\ndata: [DONE]\r\n\r\n", refStatusEvent(t, x, true) + "id: 9\r\ndata: [DONE]\r\n\r\n"},
		{"a data value cut short inside a key", "data: {\"\n\ndata: {\"\r\ndata: \"\r\n\r\n", "data: {\"\n\ndata: {\"\r\ndata: \"\r\n\r\n"},
		{"an empty last data line: the object has a trailing LF",
			`data: {"model":"upstream-mini"}` + "\ndata\n\n",
			`data: {"model":"cpen/middle","cpen_route":` + route + "}\ndata: \n\n"},
		{"mixed line ends", `data: {"model":"upstream-mini"}` + "\r\n\r: x\n\n",
			`data: {"model":"cpen/middle","cpen_route":` + route + "}\r\n\r: x\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x.sse = sseState{}
			if got := string(x.streamChunk(nil, []byte(tc.in), false)); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// An event that never ends is held up to maxPendingEvent bytes, then
// forwarded as it is; what follows is read afresh.
func TestStreamPendingBound(t *testing.T) {
	x := streamExchange(t)
	x.sse = sseState{}
	long := "data: " + strings.Repeat("x", maxPendingEvent-len("data: "))
	if got := x.streamChunk(nil, []byte(long), false); len(got) != 0 || len(x.sse.pending) != maxPendingEvent {
		t.Fatalf("forwarded %d bytes, held %d; want 0 and %d", len(got), len(x.sse.pending), maxPendingEvent)
	}
	if got := string(x.streamChunk(nil, []byte("y"), false)); got != long+"y" || x.sse.pending != nil {
		t.Fatalf("forwarded %d bytes, held %d; want %d and 0", len(got), len(x.sse.pending), len(long)+1)
	}
	want := "\n\n" + `data: {"model":"cpen/middle","cpen_route":` + string(x.routeJSON) + "}\n\n"
	if got := string(x.streamChunk(nil, []byte("\n\n"+`data: {"model":"upstream-mini"}`+"\n\n"), false)); got != want {
		t.Fatalf("after the bound: got %q, want %q", got, want)
	}
}

// FuzzSSESplit: any stream, cut anywhere, gives the same bytes as uncut,
// never panics, and no data object the client can read, whole event or
// single line, keeps a model other than the alias.
func FuzzSSESplit(f *testing.F) {
	for _, le := range lineEnds {
		f.Add([]byte(buildStream(splitEvents, le.ends)), uint16(40), uint16(200))
		f.Add([]byte(buildStream(shortEvents, le.ends)), uint16(7), uint16(31))
	}
	f.Add([]byte("data: {\"model\":[\r\ndata: \"upstream-mini\"]}\r\r"), uint16(1), uint16(30))
	f.Add([]byte("data: {\"Model\":\"upstream-mini\",\"mod\\u0065l\":\"upstream-mini\"}\r"), uint16(0), uint16(61))
	f.Add([]byte("data: {\"model\":\"upstream-mini\"}\r\ndata: {\"model\":\"upstream-mini\"}\n\r"), uint16(33), uint16(34))
	x := streamExchange(f)
	f.Fuzz(func(t *testing.T, stream []byte, a, b uint16) {
		i, j := int(a)%(len(stream)+1), int(b)%(len(stream)+1)
		if i > j {
			i, j = j, i
		}
		whole := feed(x, stream)
		if got := feed(x, stream[:i], stream[i:j], stream[j:]); got != whole {
			t.Fatalf("cut at %d and %d:\ngot  %q\nwant %q", i, j, got, whole)
		}
		if len(stream) <= 512 {
			if got := feed(x, append(cutEvery(string(stream), 1), nil)...); got != whole {
				t.Fatalf("cut into bytes:\ngot  %q\nwant %q", got, whole)
			}
		}
		for _, ev := range refEvents(whole) {
			data, _ := refData(ev)
			checkModel(t, data, whole)
			for _, l := range ev {
				if v, ok := refDataValue(l.text); ok {
					checkModel(t, v, whole)
				}
			}
		}
	})
}

// checkModel fails if data is a JSON object with a member a JSON reader
// could take for "model" whose value is not the alias.
func checkModel(t *testing.T, data, out string) {
	t.Helper()
	obj, ok := refObject(data)
	if !ok {
		return
	}
	for k, v := range obj {
		if strings.EqualFold(k, "model") && string(v) != `"cpen/middle"` {
			t.Fatalf("%s is %s in %s; output %q", k, v, data, out)
		}
	}
}

// typicalStream is an OpenAI stream of n content chunks, a usage chunk and
// [DONE], its lines ended by eol.
func typicalStream(n int, eol string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"upstream-mini",` +
			`"system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}],"usage":null}` + eol + eol)
	}
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"upstream-mini","choices":[],` +
		`"usage":{"prompt_tokens":3,"completion_tokens":64,"total_tokens":67}}` + eol + eol)
	b.WriteString("data: [DONE]" + eol + eol)
	return b.String()
}

// BenchmarkStreamChunk rewrites a 64-chunk stream delivered one event per
// body message, and cut every 1000 bytes regardless of events.
func BenchmarkStreamChunk(b *testing.B) {
	for _, eol := range []struct{ name, s string }{{"lf", "\n"}, {"crlf", "\r\n"}, {"cr", "\r"}} {
		stream := typicalStream(64, eol.s)
		for _, cut := range []struct {
			name   string
			chunks [][]byte
		}{{"per-event", byEvent(stream, eol.s)}, {"1000B", cutEvery(stream, 1000)}} {
			b.Run(eol.name+"/"+cut.name, func(b *testing.B) {
				x := streamExchange(b)
				var out []byte
				b.SetBytes(int64(len(stream)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					x.sse = sseState{} // as for each new exchange
					for j, c := range cut.chunks {
						out = x.streamChunk(out[:0], c, j == len(cut.chunks)-1)
					}
				}
			})
		}
	}
}

// byEvent cuts a stream after each event, with an empty last chunk as
// Envoy sends at the end of a stream.
func byEvent(stream, eol string) [][]byte {
	var out [][]byte
	for _, ev := range strings.SplitAfter(stream, eol+eol) {
		out = append(out, []byte(ev))
	}
	return out
}

// streamBoundCost is the cost of streamRequest's request on route_mid_01
// without usage: its byte length at the input price and the catalog's
// output bound at the output price, computed from the catalog.
func streamBoundCost(t *testing.T) string {
	t.Helper()
	req := strings.Replace(seedRequest, `"temperature":0.2`, `"stream":true`, 1)
	cat, err := config.LoadFile(testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	return selector.FormatPrice(refRouteCost(t, cat, "route_mid_01", int64(len(req)), int64(cat.ReserveOutputTokens)))
}

// refRouteCost prices tokens on a route from the catalog's own figures.
func refRouteCost(t *testing.T, cat *config.Catalog, routeID string, prompt, completion int64) decimal.Decimal {
	t.Helper()
	markup := decimal.NewFromInt(1).Add(cat.FeeRate)
	for _, r := range cat.Routes {
		if r.ID == routeID {
			rate := cat.USDRates[r.Currency]
			in := r.InputPer1M.Mul(rate).Mul(markup).Mul(decimal.NewFromInt(prompt))
			out := r.OutputPer1M.Mul(rate).Mul(markup).Mul(decimal.NewFromInt(completion))
			return in.Add(out).Div(decimal.NewFromInt(1_000_000))
		}
	}
	t.Fatalf("no route %s", routeID)
	return decimal.Zero
}

// refCost is the receipt of a usage chunk: its usage priced on the
// request's route, or the request's bound when the usage has no counts.
func refCost(t *testing.T, x *chat, usage json.RawMessage) string {
	t.Helper()
	var u struct {
		Prompt     *int64 `json:"prompt_tokens"`
		Completion *int64 `json:"completion_tokens"`
	}
	if json.Unmarshal(usage, &u) != nil || u.Prompt == nil || u.Completion == nil {
		return refBoundCost(t, x)
	}
	cat, err := config.LoadFile(testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	return selector.FormatPrice(refRouteCost(t, cat, x.decision.Route.ID, *u.Prompt, *u.Completion))
}

// refBoundCost is the cost of x's request without usage: its token bound
// priced on its route from the catalog.
func refBoundCost(t *testing.T, x *chat) string {
	t.Helper()
	cat, err := config.LoadFile(testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	b := x.credit.bound
	return selector.FormatPrice(refRouteCost(t, cat, x.decision.Route.ID, b.Prompt, b.Output))
}
