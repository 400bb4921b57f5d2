package jsonbody

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cpen/router/test/bench/load"
)

// isModel and isUsage are the keys testEditor replaces and captures.
func isModel(m *Member) bool { return strings.EqualFold(m.KeyString(), "model") }
func isUsage(m *Member) bool { return !m.Escaped && string(m.Key) == "usage" }

// headAndTail reports whether a Stream told the length of body, fed a
// first chunk of first bytes, must edit it exactly as the buffered path
// does: the first model member lies wholly in the first chunk, the last
// usage member and all after it in the last tailWindow bytes, and every
// other model member after that usage (a backward walk stops at it).
func headAndTail(body []byte, first int) bool {
	firstModel, lastUsage := -1, -1
	var models []int
	for it := Members(body); it.Next(); {
		switch m := &it.M; {
		case isModel(m) && firstModel < 0:
			firstModel = m.ValEnd
		case isModel(m):
			models = append(models, m.KeyStart)
		case isUsage(m):
			lastUsage = m.KeyStart
		}
	}
	if firstModel < 0 || firstModel > first || lastUsage < 0 || lastUsage < len(body)-tailWindow {
		return false
	}
	for _, k := range models {
		if k < lastUsage {
			return false
		}
	}
	return true
}

// checkKnownLength streams a valid object told its length, in the given
// chunk sizes, and checks what must hold for every split: valid JSON out,
// the editor's tail added, and a captured usage, if any, the last one.
// When headAndTail holds, the output is exactly the buffered edit's.
func checkKnownLength(t *testing.T, body []byte, sizes []int) {
	t.Helper()
	got, usage, done := streamed(body, sizes, len(body))
	want, wantUsage := reference(body)
	if usage != nil && !bytes.Equal(usage, wantUsage) {
		t.Fatalf("%d-byte body in chunks %v: captured usage %q, the last is %q", len(body), sizes, usage, wantUsage)
	}
	if headAndTail(body, sizes[0]) {
		if !bytes.Equal(got, want) || !done {
			t.Fatalf("%d-byte body in chunks %v (done %v):\n got %q\nwant %q", len(body), sizes, done, got, want)
		}
		if len(wantUsage) <= maxStreamCapture && !bytes.Equal(usage, wantUsage) {
			t.Fatalf("%d-byte body in chunks %v: usage %q, want %q", len(body), sizes, usage, wantUsage)
		}
		return
	}
	if !done || !bytes.Contains(got, []byte(`"cpen_status":"completed"`)) || !json.Valid(got) {
		t.Fatalf("%d-byte body in chunks %v: done %v, output …%q", len(body), sizes, done, got[max(0, len(got)-200):])
	}
}

// withPadding inserts a string member of n bytes of text (escaped quotes
// and backslashes among it) before the at-th member of a valid object (at
// past the last: after it), so that objects of any shape reach past the
// tail window.
func withPadding(obj []byte, at, n int) []byte {
	text := strings.Repeat(`lorem \"ipsum\" \\ dolor `, n/25+1)[:n]
	text = strings.TrimRight(text, `\`)
	pad := `"pad":"` + text + `"`
	var starts []int
	for it := Members(obj); it.Next(); {
		starts = append(starts, it.M.KeyStart)
	}
	if at < len(starts) {
		k := starts[at]
		return []byte(string(obj[:k]) + pad + "," + string(obj[k:]))
	}
	closing := bytes.LastIndexByte(obj, '}')
	if len(starts) > 0 {
		pad = "," + pad
	}
	return []byte(string(obj[:closing]) + pad + string(obj[closing:]))
}

// isObject reports whether body is one valid JSON object.
func isObject(body []byte) bool {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	_, ok := v.(map[string]any)
	return ok
}

// Valid objects of every shape, padded before each member to sizes on
// both sides of the tail window, in random splits: the known-length edit
// keeps its promises (see checkKnownLength).
func TestStreamKnownLengthProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range streamCases {
		for at := range strings.Count(c, ":") + 1 { // past the last member is enough
			for _, n := range []int{0, 100, tailWindow - 200, tailWindow + 50, 3 * tailWindow} {
				body := withPadding([]byte(c), at, n)
				if !isObject(body) {
					t.Fatalf("padding broke %s: %.200s", c, body)
				}
				for range 5 {
					sizes := []int{1 + rng.IntN(len(body)), 1 + rng.IntN(9000), 1 + rng.IntN(300)}
					checkKnownLength(t, body, sizes)
				}
				checkKnownLength(t, body, []int{len(body)})
				checkKnownLength(t, body, []int{1, 7, 4096})
			}
		}
	}
}

// FuzzStreamKnownLength: for every valid object, padded where the input
// says, and any split into chunks, the known-length edit keeps its
// promises; anything else passes without a panic, and what is valid JSON
// but no object passes as it came.
func FuzzStreamKnownLength(f *testing.F) {
	for i, c := range streamCases {
		f.Add([]byte(c), uint16(i*5000), uint8(i), uint16(i*3+1), uint16(4096))
	}
	f.Add(load.ChatResponse(40<<10), uint16(0), uint8(0), uint16(300), uint16(16<<10))
	f.Add([]byte(`{"usage":{"a":1},"model":"m","x":"y","usage":2}`), uint16(20000), uint8(2), uint16(12), uint16(777))
	f.Fuzz(func(t *testing.T, body []byte, pad uint16, at uint8, first, size uint16) {
		if len(body) == 0 {
			return
		}
		if !isObject(body) {
			sizes := []int{1 + int(first)%len(body), 1 + int(size)}
			got, _, _ := streamed(body, sizes, len(body))
			if json.Valid(body) && !bytes.Equal(got, body) {
				t.Fatalf("non-object %q became %q", body, got)
			}
			return
		}
		body = withPadding(body, int(at), int(pad))
		checkKnownLength(t, body, []int{1 + int(first)%len(body), 1 + int(size), 1 + int(size)%61})
	})
}

// answer is a provider's answer whose content is n bytes of text, with
// after between the choices and the closing brace.
func answer(n int, after string) string {
	head := `{"id":"c1","object":"chat.completion","model":"upstream-mini","choices":[{"message":{"content":"`
	return head + strings.TrimRight(strings.Repeat(`one \"two\" three `, n/18+1)[:n], `\`) + `"}}]` + after + "}"
}

const usageMember = `,"usage":{"prompt_tokens":42,"completion_tokens":18}`

// fed is one chunk's answer from Feed.
type fed struct {
	out     string
	changed bool
}

// feedAll feeds chunks to a Stream told length, the last one marked as the
// end, and returns what each chunk became and the body joined.
func feedAll(chunks []string, length int) (steps []fed, joined string, usage []byte, done bool) {
	ed := &testEditor{}
	s := NewStream(ed, length)
	var b strings.Builder
	for i, c := range chunks {
		out, changed := s.Feed(nil, []byte(c), i == len(chunks)-1)
		steps = append(steps, fed{string(out), changed})
		if changed {
			b.Write(out)
		} else {
			b.WriteString(c)
		}
	}
	return steps, b.String(), ed.usage, s.Done()
}

// split cuts body at the given offsets.
func split(body string, at ...int) []string {
	var chunks []string
	from := 0
	for _, k := range at {
		chunks = append(chunks, body[from:k])
		from = k
	}
	return append(chunks, body[from:])
}

// every cuts body into chunks of n bytes.
func every(body string, n int) []string {
	var chunks []string
	for len(body) > n {
		chunks, body = append(chunks, body[:n]), body[n:]
	}
	return append(chunks, body)
}

// A large answer of known length: the chunk with the model is edited, the
// middle passes untouched (up to a chunk that ends right at the tail
// window), a chunk across the window's start goes on as its part before
// it, chunks inside the window are held (sent empty), and the one that
// reaches the length carries the whole tail, edited, even before the end
// of the stream.
func TestStreamKnownLengthChunks(t *testing.T) {
	body := answer(64<<10, usageMember)
	want, wantUsage := reference([]byte(body))
	boundary := len(body) - tailWindow
	editedTail := string(want[len(want)-(len(body)-boundary)-len(`,"cpen_status":"completed"`):])
	first := 1000
	head := fed{strings.Replace(body[:first], `"upstream-mini"`, `"cpen/middle"`, 1), true}
	tests := []struct {
		name   string
		chunks []string
		want   []fed
	}{
		{"a chunk across the window's start", append(split(body, first, boundary-3000, boundary+2000, boundary+9000), ""),
			[]fed{head, {"", false}, {body[boundary-3000 : boundary], true}, {"", true}, {editedTail, true}, {"", false}}},
		{"a chunk ending at the window's start", split(body, first, boundary-3000, boundary, len(body)-1),
			[]fed{head, {"", false}, {"", false}, {"", true}, {editedTail, true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps, joined, usage, done := feedAll(tc.chunks, len(body))
			for i := range tc.want {
				if steps[i] != tc.want[i] {
					t.Errorf("chunk %d became %.100q (changed %v), want %.100q (changed %v)", i, steps[i].out, steps[i].changed, tc.want[i].out, tc.want[i].changed)
				}
			}
			if joined != string(want) || string(usage) != string(wantUsage) || !done {
				t.Errorf("joined …%q (usage %s, done %v), want …%q", end(joined), usage, done, end(string(want)))
			}
		})
	}
}

func end(s string) string { return s[max(0, len(s)-200):] }

func TestStreamKnownLengthEdges(t *testing.T) {
	withUsage := answer(64<<10, usageMember)
	n := len(withUsage)
	// The usage member starts 10 bytes before the tail window and ends in it.
	across := answer(64<<10, usageMember+`,"x":"`+strings.Repeat("y", tailWindow-len(usageMember)+2)+`"`)
	acrossAt := strings.Index(across, `,"usage"`)
	usageless := answer(64<<10, `,"system_fingerprint":"fp"`)
	truncated := withUsage[:n-4] // ends with a colon
	trailing := withUsage + strings.Repeat(" ", 40<<10)
	edited := func(body string) string { out, _ := reference([]byte(body)); return string(out) }
	headOnly := func(body string) string { return strings.Replace(body, `"upstream-mini"`, `"cpen/middle"`, 1) }
	const usage = `{"prompt_tokens":42,"completion_tokens":18}`
	tests := []struct {
		name      string
		chunks    []string
		length    int
		want      string
		wantUsage string
		wantDone  bool
	}{
		{"closing brace alone, then an empty end", append(split(withUsage, 900, n-1), ""), n, edited(withUsage), usage, true},
		{"a newline alone last", split(withUsage+"\n", 900, n), n + 1, edited(withUsage + "\n"), usage, true},
		{"usage across the tail window's start", split(across, 900, acrossAt+5), len(across), edited(across), "", true},
		{"no usage", every(usageless, 4096), len(usageless), edited(usageless), "", true},
		{"last byte not a brace", every(truncated, 4096), len(truncated), headOnly(truncated), "", false},
		{"trailing bytes not spaces", every(withUsage+"x", 4096), n + 1, headOnly(withUsage + "x"), "", false},
		{"shorter than its length", every(withUsage, 4096), n + 100, edited(withUsage), usage, true},
		{"shorter by more than the window", split(withUsage, 900, 20000), n + 3*tailWindow, edited(withUsage), usage, true},
		{"longer, cut at its length", split(withUsage+"  \n", 900, n), n, edited(withUsage + "  \n"), usage, true},
		{"longer, cut past its length", every(withUsage+"  \n", 4096), n - 1, edited(withUsage + "  \n"), usage, true},
		{"longer than the held bound", every(trailing, 4096), n, headOnly(trailing), "", false},
		{"longer, not spaces past its length", split(withUsage+"x", 900, n), n, edited(withUsage) + "x", usage, false},
		{"head reaching into the window", split(withUsage, n-100, n-40), n, edited(withUsage), usage, true},
		{"unknown length", every(withUsage, 4096), 0, edited(withUsage), usage, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got, usage, done := feedAll(tc.chunks, tc.length)
			if got != tc.want || string(usage) != tc.wantUsage || done != tc.wantDone {
				t.Errorf("got …%q (usage %q, done %v)\nwant …%q (usage %q, done %v)", end(got), usage, done, end(tc.want), tc.wantUsage, tc.wantDone)
			}
		})
	}
}

// The usage the head read is the last only if nothing after it went by
// unread: then it is handed over; after a skipped middle it is not.
func TestStreamKnownLengthHeadUsage(t *testing.T) {
	head := `{"usage":{"prompt_tokens":1},"model":"m","x":"`
	tests := []struct {
		name      string
		body      string
		first     int
		wantUsage string
	}{
		{"middle read", head + strings.Repeat("a", 100) + `","y":2}`, len(head), `{"prompt_tokens":1}`},
		{"middle skipped", head + strings.Repeat("a", 2*tailWindow) + `","y":2}`, len(head), ""},
		{"a later usage in the window", head + strings.Repeat("a", 2*tailWindow) + `","usage":{"prompt_tokens":2}}`, len(head), `{"prompt_tokens":2}`},
		// The head stops between members: a key at the held bytes' very start
		// is read whole.
		{"a later usage right after the head", `{"usage":1,"model":"m",` + `"usage":2,"y":"\\"}`, len(`{"usage":1,"model":"m",`), "2"},
		{"a later usage too long to keep", head + `a","usage":[` + strings.Repeat(`"\\",`, maxStreamCapture/4) + `0]}`, len(head), ""},
		{"a later usage too long, read by the head", head + `a","usage":[` + strings.Repeat(`"\\",`, maxStreamCapture/4) + `0]}`, 1 << 20, ""},
		// The head ends inside a run of three backslashes: the run's
		// parity is not the held bytes' to judge, so the walk runs off
		// there, every member after the head read.
		{"the head ending inside a backslash run", `{"usage":1,"model":"m","x":"a\\\"b"}`, len(`{"usage":1,"model":"m","x":"a\`), "1"},
		// A chunk that ends after a wanted key: the head reads its value.
		{"a later usage's key ending the head", `{"usage":1,"model":"m","usage":2}`, len(`{"usage":1,"model":"m","usage"`), "2"},
		// Before the model is replaced the head follows all, as when the
		// length is unknown, and hands its usage over at the end.
		{"no model, cut short", `{"usage":1,"x":`, 3, "1"},
		// A nested brace ends the body: the walk meets a brace that cannot
		// be the object's, so it trusts nothing, the head's usage neither.
		{"a nested brace last", `{"usage":1,"model":"m","x":{"a":1}`, len(`{"usage":1,"model":"m",`), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, usage, _ := streamed([]byte(tc.body), []int{tc.first, 4096}, len(tc.body))
			if string(usage) != tc.wantUsage {
				t.Errorf("usage %q, want %q", usage, tc.wantUsage)
			}
			if !isObject([]byte(tc.body)) {
				return
			}
			if want, _ := reference([]byte(tc.body)); string(out) != string(want) {
				t.Errorf("got …%q, want …%q", end(string(out)), end(string(want)))
			}
		})
	}
}

// keysEditor records the keys it is asked about.
type keysEditor struct {
	testEditor
	asked []string
}

func (e *keysEditor) Replacement(key []byte, escaped bool) ([]byte, bool) {
	e.asked = append(e.asked, string(key))
	return e.testEditor.Replacement(key, escaped)
}

// Keys over maxStreamKey bytes are nobody's to edit, in the head as in the
// held tail.
func TestStreamLongKeysNotOffered(t *testing.T) {
	long := strings.Repeat("k", maxStreamKey+1)
	body := `{"model":"m","` + long + `":1,"x":"` + strings.Repeat("a", 2*tailWindow) + `","` + long + `":2,"y":3}`
	for _, length := range []int{0, len(body)} {
		ed := &keysEditor{}
		s := NewStream(ed, length)
		for _, c := range every(body, 4096) {
			s.Feed(nil, []byte(c), false)
		}
		s.Feed(nil, nil, true)
		if got := strings.Join(ed.asked, ","); got != "model,x,y" {
			t.Errorf("length %d: keys offered %q", length, ed.asked)
		}
	}
}

// A Stream reused for an object of known length after one of unknown
// length, and the other way round, edits each as if new.
func TestStreamResetKeepsNothing(t *testing.T) {
	body := []byte(answer(64<<10, usageMember))
	want, wantUsage := reference(body)
	ed := &testEditor{}
	s := NewStream(ed, 0)
	for _, length := range []int{len(body), 0, len(body), len(body) - 1} {
		ed.usage = nil
		s.Reset(ed, length)
		var got []byte
		for _, c := range every(string(body), 5000) {
			out, changed := s.Feed(nil, []byte(c), false)
			if !changed {
				out = []byte(c)
			}
			got = append(got, out...)
		}
		out, _ := s.Feed(nil, nil, true)
		got = append(got, out...)
		if !bytes.Equal(got, want) || !bytes.Equal(ed.usage, wantUsage) || !s.Done() {
			t.Errorf("length %d: got …%q (usage %s)", length, end(string(got)), ed.usage)
		}
	}
}

// BenchmarkStream1M edits a 1 MiB answer (text with an escaped quote every
// few dozen bytes) of known length, fed in 64 KiB chunks.
func BenchmarkStream1M(b *testing.B) {
	body := load.ChatResponse(1 << 20)
	benchStream(b, body, len(body))
}

// BenchmarkStreamUnknownLength1M is the same answer followed byte by byte.
func BenchmarkStreamUnknownLength1M(b *testing.B) { benchStream(b, load.ChatResponse(1<<20), 0) }

func benchStream(b *testing.B, body []byte, length int) {
	const chunk = 64 << 10
	ed := &testEditor{}
	s := NewStream(ed, length)
	buf := make([]byte, 0, 2*chunk)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s.Reset(ed, length)
		for i := 0; i < len(body); i += chunk {
			end := min(i+chunk, len(body))
			buf, _ = s.Feed(buf[:0], body[i:end], end == len(body))
		}
	}
	if !s.Done() || len(ed.usage) == 0 {
		b.Fatalf("the answer was not edited whole: done %v, usage %q", s.Done(), ed.usage)
	}
}
