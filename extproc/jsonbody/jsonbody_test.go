package jsonbody

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func members(t *testing.T, body string) map[string]string {
	t.Helper()
	if err := Validate([]byte(body), DefaultMaxDepth); err != nil {
		t.Fatalf("Validate(%s): %v", body, err)
	}
	got := map[string]string{}
	forEach([]byte(body), func(m *Member) bool {
		got[m.KeyString()] = string(m.Value([]byte(body)))
		return true
	})
	return got
}

func TestMembers(t *testing.T) {
	tests := []struct {
		name string
		body string
		want map[string]string
	}{
		{"empty", ` {} `, map[string]string{}},
		{"scalars", `{"a":1,"b":"x","c":true,"d":null,"e":-1.5e3}`,
			map[string]string{"a": "1", "b": `"x"`, "c": "true", "d": "null", "e": "-1.5e3"}},
		{"nested with tricky strings", `{"m":[{"x":"}]\"{"}],"o":{"k":"\\"},"z":2}`,
			map[string]string{"m": `[{"x":"}]\"{"}]`, "o": `{"k":"\\"}`, "z": "2"}},
		{"white space", "\n{ \"a\" :\t\"b\" ,\r\n \"c\" : [ 1 , 2 ] }\n",
			map[string]string{"a": `"b"`, "c": "[ 1 , 2 ]"}},
		{"escaped key", `{"mod\u0065l":"x"}`, map[string]string{"model": `"x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := members(t, tc.body); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		body string
		want error
	}{
		{`{"a":1}`, nil},
		{`[1]`, ErrNotObject},
		{`"s"`, ErrNotObject},
		{`{"a":1`, ErrMalformed},
		{`{"a":1}{}`, ErrMalformed},
		{``, ErrMalformed},
	}
	for _, tc := range tests {
		if err := Validate([]byte(tc.body), DefaultMaxDepth); !errors.Is(err, tc.want) {
			t.Errorf("Validate(%q) = %v, want %v", tc.body, err, tc.want)
		}
	}
}

func TestEdits(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		remove string
		model  string
		append string
		want   string
	}{
		{"remove middle", `{"model":"a","routing":{"x":1},"n":2}`, "routing", `"b"`, "", `{"model":"b","n":2}`},
		{"remove last", `{"model":"a", "routing":{} }`, "routing", `"b"`, "", `{"model":"b" }`},
		{"remove first", `{"routing":null,"model":"a"}`, "routing", `"b"`, "", `{"model":"b"}`},
		{"remove only", `{"routing":1}`, "routing", "", "", `{}`},
		{"append", `{"model":"a"}`, "", `"b"`, `"k":1`, `{"model":"b","k":1}`},
		{"append empty", `{ }`, "", "", `"k":1`, `{ "k":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			var edits []Edit
			has := false
			forEach(body, func(m *Member) bool {
				has = true
				switch m.KeyString() {
				case "model":
					if tc.model != "" {
						edits = append(edits, ReplaceValue(m, []byte(tc.model)))
					}
				case tc.remove:
					edits = append(edits, RemoveMember(body, m))
				}
				return true
			})
			if tc.append != "" {
				edits = append(edits, AppendMembers(body, has, []byte(tc.append)))
			}
			got := string(Apply(nil, body, edits...))
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("result is not valid JSON: %s", got)
			}
		})
	}
}

// FuzzEdit: for any object, removing each member in turn leaves valid JSON
// holding exactly the other members.
func FuzzEdit(f *testing.F) {
	f.Add([]byte(`{"model":"a","routing":{"x":[1,"]"]},"n":2}`))
	f.Add([]byte(` { "a" : "\"}" , "b":[{}] } `))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := Validate(body, DefaultMaxDepth); err != nil {
			if json.Valid(body) && err != ErrNotObject && err != ErrTooDeep {
				t.Fatalf("Validate rejected valid JSON %q: %v", body, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("Validate accepted invalid JSON %q", body)
		}
		if !shape(body) {
			t.Fatalf("Shape refused the valid object %q", body)
		}
		var all []Member
		forEach(body, func(m *Member) bool { all = append(all, *m); return true })
		for i := range all {
			out := Apply(nil, body, RemoveMember(body, &all[i]))
			if !json.Valid(out) {
				t.Fatalf("removing member %d of %s gave invalid %s", i, body, out)
			}
			n := 0
			forEach(out, func(*Member) bool { n++; return true })
			if n != len(all)-1 {
				t.Fatalf("removing member %d of %s left %d members: %s", i, body, n, out)
			}
		}
		out := Apply(nil, body, AppendMembers(body, len(all) > 0, []byte(`"cpen":1`)))
		if !json.Valid(out) {
			t.Fatalf("append to %s gave invalid %s", body, out)
		}
	})
}

func TestShape(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{}`, true},
		{` {"a":1,"b":"x\"}","c":[{"d":"]"}]} `, true},
		{`{"a":1`, false},
		{`{"a":"xx`, false},
		{`{"a":1,}`, false},
		{`{"a" 1}`, false},
		{`{"a":1}x`, false},
		{`[1]`, false},
		{`data: [DONE]`, false},
	}
	for _, tc := range tests {
		if got := shape([]byte(tc.body)); got != tc.want {
			t.Errorf("ShapeMembers(%s) = %v, want %v", tc.body, got, tc.want)
		}
	}
}

// forEach walks the members of body with the iterator, like a caller does.
func forEach(body []byte, fn func(m *Member) bool) {
	for it := Members(body); it.Next(); {
		if !fn(&it.M) {
			return
		}
	}
}

// Bodies cut off anywhere (a provider that breaks off mid-answer) are
// refused by Shape and end the member walk, never panic.
func TestTruncatedBodiesNeverPanic(t *testing.T) {
	full := `{"id":"c\"1","model":"m","choices":[{"a":[1,2]}],"usage":{"t":3}}`
	for i := 0; i < len(full); i++ {
		cut := []byte(full[:i])
		if shape(cut) {
			t.Errorf("ShapeMembers(%q) = true", cut)
		}
		for it := Members(cut); it.Next(); {
			_ = it.M.Value(cut)
		}
	}
	for _, b := range []string{`{"`, `{"a`, `{"\"`, `{"a":`, `{"a":"`, `{"a":{`, `{"a":1,"`} {
		if shape([]byte(b)) {
			t.Errorf("ShapeMembers(%q) = true", b)
		}
	}
}

// FuzzShape: provider bodies are not validated, so Shape and the member
// walk must survive any bytes; whatever Shape accepts walks to its end.
func FuzzShape(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"`, `{"a":"\"","b":[{}]}`, `{"model":"x","model":"y"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ok := shape(b)
		n := 0
		for it := Members(b); it.Next(); n++ {
			if it.M.ValStart > it.M.ValEnd || it.M.ValEnd > len(b) {
				if ok {
					t.Fatalf("Shape accepted %q but member %d has offsets %d..%d", b, n, it.M.ValStart, it.M.ValEnd)
				}
				break
			}
			_ = it.M.Value(b)
		}
	})
}

// shape is ShapeMembers' verdict alone.
func shape(body []byte) bool {
	_, ok := ShapeMembers(body, nil)
	return ok
}
