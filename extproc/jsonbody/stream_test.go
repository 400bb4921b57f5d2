package jsonbody

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// testEditor replaces every top-level "model" (any case, escapes decoded)
// with an alias, captures "usage", and adds one member at the end.
type testEditor struct{ usage, alias []byte }

func (e *testEditor) Replacement(key []byte, escaped bool) ([]byte, bool) {
	// Unescaped keys are compared in place, as the chat editor does, so
	// benchmarks count the Stream's work, not the editor's allocations.
	model := bytes.EqualFold(key, []byte("model"))
	if escaped {
		m := Member{Key: key, Escaped: true}
		model = strings.EqualFold(m.KeyString(), "model")
	}
	if model {
		if e.alias == nil {
			e.alias = []byte(`"cpen/middle"`)
		}
		return e.alias, true
	}
	return nil, false
}

func (e *testEditor) Wants(key []byte, escaped bool) bool { return !escaped && string(key) == "usage" }

func (e *testEditor) Captured(_, value []byte) { e.usage = append(e.usage[:0], value...) }

func (e *testEditor) Tail(dst []byte, hasMembers bool) []byte {
	if hasMembers {
		dst = append(dst, ',')
	}
	return append(dst, `"cpen_status":"completed"`...)
}

// reference edits a whole object the way the buffered path does.
func reference(obj []byte) (out, usage []byte) {
	at, has := 0, false
	for it := Members(obj); it.Next(); {
		has = true
		if strings.EqualFold(it.M.KeyString(), "model") {
			out = append(out, obj[at:it.M.ValStart]...)
			out = append(out, `"cpen/middle"`...)
			at = it.M.ValEnd
		} else if !it.M.Escaped && string(it.M.Key) == "usage" {
			usage = it.M.Value(obj)
		}
	}
	closing := bytes.LastIndexByte(obj, '}')
	out = append(out, obj[at:closing]...)
	if has {
		out = append(out, ',')
	}
	out = append(out, `"cpen_status":"completed"`...)
	return append(out, obj[closing:]...), usage
}

// streamed feeds body in the given chunk sizes (cycled) to a Stream told
// length (0: unknown), the last chunk marked as the end, and joins what
// goes on.
func streamed(body []byte, sizes []int, length int) (out []byte, usage []byte, done bool) {
	ed := &testEditor{}
	s := NewStream(ed, length)
	var buf []byte
	for at := 0; at < len(body); {
		n := min(sizes[0], len(body)-at)
		sizes = append(sizes[1:], sizes[0])
		chunk := body[at : at+n]
		at += n
		res, changed := s.Feed(buf[:0], chunk, at == len(body))
		if changed {
			out = append(out, res...)
		} else {
			out = append(out, chunk...)
		}
	}
	return out, ed.usage, s.Done()
}

var streamCases = []string{
	`{}`,
	` { } `,
	`{"model":"gpt-x"}`,
	`{"id":"c1","object":"chat.completion","model":"upstream-mini","choices":[{"message":{"content":"a \"model\": {x}"}}],"usage":{"prompt_tokens":42,"completion_tokens":18}}`,
	`{"Model":"a","MODEL":"b","mo\u0064el":"c","models":"d"}`,
	`{"model":{"nested":["x",{"model":"y"}]},"n":-1.5e3,"t":true,"f":false,"z":null}`,
	`{"a":"\\","model":"\"q\"","usage":{"prompt_tokens":1}}` + "\n",
	`{"k":[1,2,[3,{"}":"]"}]],"model":123}`,
	// Runs of backslashes before quotes, in values and nested strings.
	`{"a":"x\\\"y\\","model":"m","b":["\\\\","\"\\\""],"c":{"d":"\\\\\"}"}}`,
	`{"model":"\\","a":"\\\\\\\\"}`,
	// Members after the usage: a model again, an array, a literal.
	`{"model":"a","usage":{"prompt_tokens":1},"Model":"b","arr":[1,{"x":"]["}],"mo\u0064el":"c","n":null}`,
}

// Any split of a valid object streams to exactly what the buffered edit
// makes of it, and captures the same usage.
func TestStreamMatchesBufferedEdit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range streamCases {
		want, wantUsage := reference([]byte(c))
		for _, sizes := range [][]int{{len(c)}, {1}, {2, 3}, {7}} {
			got, usage, done := streamed([]byte(c), sizes, 0)
			if string(got) != string(want) || string(usage) != string(wantUsage) || !done {
				t.Errorf("%s in chunks %v:\n got %s (usage %s, done %v)\nwant %s (usage %s)", c, sizes, got, usage, done, want, wantUsage)
			}
		}
		for range 50 {
			sizes := []int{1 + rng.IntN(8), 1 + rng.IntN(16), 1 + rng.IntN(3)}
			if got, _, _ := streamed([]byte(c), sizes, 0); string(got) != string(want) {
				t.Errorf("%s in chunks %v: got %s", c, sizes, got)
			}
		}
	}
}

// A chunk with nothing to edit goes on untouched (no copy), and what is
// not an object passes as it came.
func TestStreamUntouchedChunks(t *testing.T) {
	s := NewStream(&testEditor{}, 0)
	if _, changed := s.Feed(nil, []byte(`{"id":"c1","model"`), false); changed {
		t.Error("a chunk before the model value changed")
	}
	out, changed := s.Feed(nil, []byte(`:"upstream-mini","choices":[`), false)
	if !changed || string(out) != `:"cpen/middle","choices":[` {
		t.Errorf("model chunk: %q %v", out, changed)
	}
	if _, changed := s.Feed(nil, []byte(strings.Repeat(`{"x":"}"},`, 100)), false); changed {
		t.Error("a middle chunk changed")
	}
	out, changed = s.Feed(nil, []byte(`1]}`), true)
	if !changed || string(out) != `1],"cpen_status":"completed"}` {
		t.Errorf("last chunk: %q %v", out, changed)
	}
	for _, body := range []string{`[1,2]`, `"text"`, `not json`, `{"a" 1}`, `{"model" "x"}`} {
		if got, _, done := streamed([]byte(body), []int{3}, 0); string(got) != body || done {
			t.Errorf("%s became %s (done %v)", body, got, done)
		}
	}
	// Bytes after a complete object break it: what was edited stays, the
	// rest passes as it came.
	for body, want := range map[string]string{
		`{"a":1}x`:             `{"a":1,"cpen_status":"completed"}x`,
		`{"model":"m","b":1}}`: `{"model":"cpen/middle","b":1,"cpen_status":"completed"}}`,
	} {
		if got, _, done := streamed([]byte(body), []int{4}, 0); string(got) != want || done {
			t.Errorf("%s became %s (done %v), want %s", body, got, done, want)
		}
	}
}

// FuzzStream checks the streamed edit of an object of unknown length
// against the buffered one on every valid object, in chunks the input
// picks; and never panics on the rest.
func FuzzStream(f *testing.F) {
	for _, c := range streamCases {
		f.Add([]byte(c), uint8(3))
	}
	f.Add([]byte(`{"model":"x"`), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, size uint8) {
		sizes := []int{int(size%17) + 1, int(size%5) + 1}
		got, _, _ := streamed(body, sizes, 0)
		var v any
		if json.Unmarshal(body, &v) != nil {
			return
		}
		if _, ok := v.(map[string]any); !ok {
			if !bytes.Equal(got, body) {
				t.Fatalf("non-object %q became %q", body, got)
			}
			return
		}
		if want, _ := reference(body); !bytes.Equal(got, want) {
			t.Fatalf("%q in chunks %v:\n got %q\nwant %q", body, sizes, got, want)
		}
	})
}

// Long strings with escapes at every offset, split at every position: the
// word-at-a-time skip finds the same ends as the byte walk.
func TestStreamLongEscapedStrings(t *testing.T) {
	for gap := 0; gap < 40; gap++ {
		text := strings.Repeat(strings.Repeat("a", gap)+`\"`+`\\`, 5)
		body := `{"id":"` + text + `","model":"m","choices":[{"content":"` + text + `\\"}],"usage":{"prompt_tokens":1},"x":"\\\\"}`
		want, wantUsage := reference([]byte(body))
		for _, size := range []int{1, 7, 31, 32, 33, 64, len(body)} {
			got, usage, done := streamed([]byte(body), []int{size}, 0)
			if string(got) != string(want) || string(usage) != string(wantUsage) || !done {
				t.Fatalf("gap %d, chunks of %d:\n got %s\nwant %s", gap, size, got, want)
			}
		}
	}
}
