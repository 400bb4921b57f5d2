package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime/debug"
	"strings"
	"testing"
)

// nest returns an object whose value under "a" is a run of arrays, so the
// whole body nests depth levels deep (the object itself is level 1).
func nest(depth int) string {
	return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

func TestValidateDepth(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		maxDepth int
		want     error
	}{
		{"flat object at limit 1", `{"a":1,"b":"x"}`, 1, nil},
		{"empty object at limit 1", `{}`, 1, nil},
		{"array member over limit 1", `{"a":[]}`, 1, ErrTooDeep},
		{"object member over limit 1", `{"a":{}}`, 1, ErrTooDeep},
		{"mixed at limit", `{"a":[{"b":[1,{"c":2}]}]}`, 5, nil},
		{"mixed one over", `{"a":[{"b":[1,{"c":{}}]}]}`, 5, ErrTooDeep},
		{"siblings do not add up", `{"a":[[1]],"b":[[2]],"c":{"d":[3]}}`, 3, nil},
		{"at limit 64", nest(64), 64, nil},
		{"one over 64", nest(65), 64, ErrTooDeep},
		{"no limit means 64", nest(64), 0, nil},
		{"no limit, one over 64", nest(65), 0, ErrTooDeep},
		{"negative limit means 64", nest(65), -1, ErrTooDeep},
		{"at the ceiling", nest(MaxDepthCeiling), MaxDepthCeiling + 500, nil},
		{"over the ceiling", nest(MaxDepthCeiling + 1), MaxDepthCeiling + 500, ErrTooDeep},

		{"brackets in a value", `{"a":"[[[[{{{{"}`, 1, nil},
		{"brackets in a key", `{"[[{{":"]]}}"}`, 1, nil},
		{"escaped quote keeps the string open", `{"a":"\"[[[[\""}`, 1, nil},
		{"escaped backslash then escaped quote", `{"a":"\\\"[[[["}`, 1, nil},
		{"escaped backslash closes the string", `{"a":"\\","b":[[]]}`, 2, ErrTooDeep},
		{"escaped backslash closes, at limit", `{"a":"\\","b":[[]]}`, 3, nil},
		{"long string with escapes", `{"a":"` + strings.Repeat(`[\"{\\`, 40) + `"}`, 1, nil},
		{"long string then too deep", `{"a":"` + strings.Repeat(`x\"[`, 40) + `","b":[[]]}`, 2, ErrTooDeep},
		{"quote in second word", `{"abcdefghijkl":[]}`, 1, ErrTooDeep},
		{"escape in second word", `{"abcdefghij\"[[[[[[[[":1}`, 1, nil},

		{"unclosed array", `{"a":[1}`, 8, ErrMalformed},
		{"extra closing brace", `{"a":1}}`, 8, ErrMalformed},
		{"closing bracket first", `]{"a":1}`, 8, ErrMalformed},
		{"mismatched bracket", `{"a":[[1]}`, 8, ErrMalformed},
		{"unclosed string", `{"a":"x`, 8, ErrMalformed},
		{"too deep wins over malformed", `{"a":[[[[`, 2, ErrTooDeep},
		{"not an object", `[[1]]`, 2, ErrNotObject},
		{"not an object and too deep", `[[1]]`, 1, ErrTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Validate([]byte(tc.body), tc.maxDepth); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Validate(%.80q, %d) = %v, want %v", tc.body, tc.maxDepth, err, tc.want)
			}
		})
	}
}

// A stack limit far below what one frame per level of the hostile bodies
// below would need: recursion proportional to the input overflows it and
// kills the test binary, while the flat depth pass needs a few frames.
const flatStack = 256 << 10

// withStackLimit runs fn on a fresh goroutine (so it starts on a small
// stack) under the process-wide stack limit max.
func withStackLimit(t *testing.T, max int, fn func()) {
	t.Helper()
	old := debug.SetMaxStack(max)
	defer debug.SetMaxStack(old)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func TestValidateHostileNesting(t *testing.T) {
	const size = 4 << 20
	tests := []struct {
		name string
		body string
	}{
		{"bare brackets", strings.Repeat("[", size)},
		{"inside a chat body", `{"model":"cpen/middle","messages":` + strings.Repeat("[", size) + `}`},
		{"balanced", strings.Repeat("[", size/2) + strings.Repeat("]", size/2)},
		{"objects", strings.Repeat(`{"a":`, size/5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			var err error
			withStackLimit(t, flatStack, func() { err = Validate(body, DefaultMaxDepth) })
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("Validate = %v, want ErrTooDeep", err)
			}
		})
	}
}

// TestWalkersAreFlat: the helpers that walk a body after validation
// (Shape, Members and the value skipper behind them) also keep a counter,
// not a stack frame, per level.
func TestWalkersAreFlat(t *testing.T) {
	const depth = 100_000
	deep := strings.Repeat(`[{"k":"]\"}","v":`, depth) + "1" + strings.Repeat("}]", depth)
	body := []byte(`{"a":` + deep + `,"b":2}`)
	var shaped bool
	var got []string
	withStackLimit(t, flatStack, func() {
		shaped = shape(body)
		for it := Members(body); it.Next(); {
			got = append(got, it.M.KeyString(), string(it.M.Value(body)))
		}
	})
	if !shaped {
		t.Error("Shape refused a deep but well-formed object")
	}
	if len(got) != 4 || got[0] != "a" || got[1] != deep || got[2] != "b" || got[3] != "2" {
		t.Errorf("members: %d strings, want a=<%d bytes> b=2", len(got), len(deep))
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	for _, body := range [][]byte{
		[]byte(nest(DefaultMaxDepth)),
		[]byte(strings.Repeat("[", 1<<20)),
		[]byte(`{"a":"` + strings.Repeat(`x\"`, 1000) + `"}`),
	} {
		if n := testing.AllocsPerRun(10, func() { _ = Validate(body, DefaultMaxDepth) }); n != 0 {
			t.Errorf("Validate(%.40q…) allocates %v times", body, n)
		}
	}
}

// refDepth is a byte-at-a-time model of the depth rule: ErrTooDeep once
// brackets outside strings open more than max levels, ErrMalformed once
// one closes a level that was never opened, nil otherwise.
func refDepth(b []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > max {
				return ErrTooDeep
			}
		case c == ']' || c == '}':
			if depth--; depth < 0 {
				return ErrMalformed
			}
		}
	}
	return nil
}

// decodedDepth is the nesting depth of valid JSON as encoding/json's
// tokenizer sees it.
func decodedDepth(t *testing.T, b []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			t.Fatalf("tokenizing valid JSON %q: %v", b, err)
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}

// FuzzValidate: Validate agrees with encoding/json on validity, and with
// a plain model of the depth rule on nesting; the depth verdict comes
// first whatever the rest of the body holds.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(`{"a":[{"b":[1,{"c":2}]}]}`), uint8(3))
	f.Add([]byte(`{"a":"\\\"[[[[","b":[[]]}`), uint8(2))
	f.Add([]byte(`{"abcdefghij\"[[[[[[[[":[{}]}`), uint8(1))
	f.Add([]byte(`[[[[[[`), uint8(4))
	f.Add([]byte(`{"a":1}}`), uint8(0))
	f.Add([]byte(` [{"x":"}"}] `), uint8(2))
	f.Add([]byte(`{"a":[-0.5e+10,1E3,0,true,false,null],"b":"\u00e9\n\t\/"}`), uint8(0))
	f.Add([]byte(`{"a":01,"b":[[[[[[[[[[`), uint8(3))
	f.Add([]byte("{\"a\":\"\\q\x00\xff\"}"), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, limit uint8) {
		maxDepth := int(limit % 8) // 0 means the default
		eff := maxDepth
		if eff == 0 {
			eff = DefaultMaxDepth
		}
		got := Validate(body, maxDepth)
		pre := refDepth(body, eff)
		valid := json.Valid(body)
		if valid {
			if deep := decodedDepth(t, body) > eff; deep != errors.Is(pre, ErrTooDeep) {
				t.Fatalf("model and tokenizer disagree on depth of %q (limit %d)", body, eff)
			}
		}
		var want error
		switch {
		case pre != nil:
			want = pre
		case !valid:
			want = ErrMalformed
		case !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")):
			want = ErrNotObject
		}
		if got != want {
			t.Fatalf("Validate(%q, %d) = %v, want %v", body, maxDepth, got, want)
		}
		// Recording the members changes nothing, and finds exactly the
		// members a walk of the valid object finds.
		members, err := ValidateMembers(body, maxDepth, nil)
		if err != want {
			t.Fatalf("ValidateMembers(%q, %d) = %v, Validate %v", body, maxDepth, err, want)
		}
		if err != nil {
			return
		}
		var walked []Member
		for it := Members(body); it.Next(); {
			walked = append(walked, it.M)
		}
		if len(walked) != len(members) {
			t.Fatalf("%q: %d members recorded, %d walked", body, len(members), len(walked))
		}
		for i := range walked {
			w, m := walked[i], members[i]
			if string(w.Key) != string(m.Key) || w.Escaped != m.Escaped || w.KeyStart != m.KeyStart ||
				w.ValStart != m.ValStart || w.ValEnd != m.ValEnd {
				t.Fatalf("%q member %d: recorded %+v, walked %+v", body, i, m, w)
			}
		}
	})
}
