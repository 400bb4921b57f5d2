package jsonbody

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidateGrammar(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
	}{
		{"every escape", `{"a":"\" \\ \/ \b \f \n \r \t \u00e9 \uABCD \uabcd \uD83D\uDE00"}`, nil},
		{"escape in a key", `{"\"k\n":1}`, nil},
		{"lone surrogate escape", `{"a":"\uD800"}`, nil},
		{"unknown escape", `{"a":"\a"}`, ErrMalformed},
		{"escaped single quote", `{"a":"\'"}`, ErrMalformed},
		{"escaped digit", `{"a":"\0"}`, ErrMalformed},
		{"capital U escape", `{"a":"\U0041"}`, ErrMalformed},
		{"escaped high byte", "{\"a\":\"\\\xc3\xa9\"}", ErrMalformed},
		{"escaped raw newline", "{\"a\":\"\\\n\"}", ErrMalformed},
		{"short unicode escape", `{"a":"\u12"}`, ErrMalformed},
		{"bad hex in unicode escape", `{"a":"\u12G4"}`, ErrMalformed},
		{"hex digit past g", `{"a":"\u00g0"}`, ErrMalformed},
		{"unicode escape cut by the end", `{"a":"\u00`, ErrMalformed},
		{"backslash at the end", `{"a":"\`, ErrMalformed},
		{"raw NUL in a string", "{\"a\":\"x\x00\"}", ErrMalformed},
		{"raw 0x1f in a string", "{\"a\":\"\x1f\"}", ErrMalformed},
		{"raw tab in a string", "{\"a\":\"a\tb\"}", ErrMalformed},
		{"raw newline in a key", "{\"a\nb\":1}", ErrMalformed},
		{"DEL in a string", "{\"a\":\"\x7f\"}", nil},
		{"invalid UTF-8 in a string", "{\"a\":\"\xff\xfe\xc3\"}", nil},
		{"invalid UTF-8 in a key", "{\"\x80\":1}", nil},
		{"unclosed key", `{"a`, ErrMalformed},

		{"minus zero", `{"a":-0}`, nil},
		{"zero", `{"a":0}`, nil},
		{"1e308", `{"a":1e308}`, nil},
		{"huge exponent", `{"a":1e99999999999999999999}`, nil},
		{"huge negative exponent", `{"a":-1.5E-99999999999999999999}`, nil},
		{"long integer", `{"a":123456789012345678901234567890}`, nil},
		{"fraction and exponent", `{"a":-0.0e+0}`, nil},
		{"capital E", `{"a":1E2}`, nil},
		{"number before a space", `{"a":1 }`, nil},
		{"number at the end of an array", `{"a":[1,-2.5]}`, nil},
		{"leading zero", `{"a":01}`, ErrMalformed},
		{"minus leading zero", `{"a":-01}`, ErrMalformed},
		{"bare dot", `{"a":1.}`, ErrMalformed},
		{"dot first", `{"a":.5}`, ErrMalformed},
		{"minus dot", `{"a":-.5}`, ErrMalformed},
		{"dot then exponent", `{"a":1.e5}`, ErrMalformed},
		{"bare exponent", `{"a":1e}`, ErrMalformed},
		{"exponent sign only", `{"a":1e+}`, ErrMalformed},
		{"lone minus", `{"a":-}`, ErrMalformed},
		{"double minus", `{"a":--1}`, ErrMalformed},
		{"plus sign", `{"a":+1}`, ErrMalformed},
		{"hex", `{"a":0x1}`, ErrMalformed},
		{"NaN", `{"a":NaN}`, ErrMalformed},
		{"Infinity", `{"a":-Infinity}`, ErrMalformed},
		{"two numbers", `{"a":1 2}`, ErrMalformed},
		{"number cut by the end", `{"a":1`, ErrMalformed},

		{"literals", `{"a":true,"b":false,"c":null}`, nil},
		{"literals in an array", `{"a":[true,false,null]}`, nil},
		{"short literal", `{"a":tru}`, ErrMalformed},
		{"literal with a tail", `{"a":truex}`, ErrMalformed},
		{"capital literal", `{"a":True}`, ErrMalformed},
		{"short null at the end", `{"a":nul`, ErrMalformed},
		{"null doubled", `{"a":nullnull}`, ErrMalformed},

		{"empty containers", `{"a":{},"b":[],"c":[{}],"d":{"e":[]}}`, nil},
		{"white space everywhere", " \t\r\n{ \"a\" : [ 1 , { } ] , \"b\" : \"x\" } \n\t\r ", nil},
		{"trailing comma in an object", `{"a":1,}`, ErrMalformed},
		{"trailing comma in an array", `{"a":[1,]}`, ErrMalformed},
		{"leading comma in an object", `{,"a":1}`, ErrMalformed},
		{"leading comma in an array", `{"a":[,1]}`, ErrMalformed},
		{"missing colon", `{"a" 1}`, ErrMalformed},
		{"missing value", `{"a":}`, ErrMalformed},
		{"key only", `{"a"}`, ErrMalformed},
		{"missing comma", `{"a":1 "b":2}`, ErrMalformed},
		{"number key", `{1:1}`, ErrMalformed},
		{"colon in an array", `{"a":["b":1]}`, ErrMalformed},
		{"array closed by a brace", `{"a":[1}}`, ErrMalformed},
		{"object closed by a bracket", `{"a":{"b":1]}`, ErrMalformed},

		{"empty body", ``, ErrMalformed},
		{"white space only", " \t\r\n", ErrMalformed},
		{"byte order mark", "\xef\xbb\xbf{}", ErrMalformed},
		{"form feed is not white space", "\f{}", ErrMalformed},
		{"no-break space is not white space", "{}\u00a0", ErrMalformed},
		{"trailing garbage", `{}x`, ErrMalformed},
		{"two objects", `{} {}`, ErrMalformed},
		{"trailing NUL", "{}\x00", ErrMalformed},
		{"unclosed object", `{"a":1`, ErrMalformed},
		{"top-level string", `"x"`, ErrNotObject},
		{"top-level number", ` -1.5e3 `, ErrNotObject},
		{"top-level null", `null`, ErrNotObject},
		{"top-level array", `[{}]`, ErrNotObject},

		{"at the limit", nest(DefaultMaxDepth), nil},
		{"one past the limit", nest(DefaultMaxDepth + 1), ErrTooDeep},
		{"objects at the limit", strings.Repeat(`{"a":`, DefaultMaxDepth) + "1" + strings.Repeat("}", DefaultMaxDepth), nil},
		{"objects one past", strings.Repeat(`{"a":`, DefaultMaxDepth+1) + "1" + strings.Repeat("}", DefaultMaxDepth+1), ErrTooDeep},
		{"too deep, then garbage", nest(DefaultMaxDepth+1) + "x", ErrTooDeep},
		{"garbage, then too deep", `{"a":x,"b":` + strings.Repeat("[", DefaultMaxDepth) + `}`, ErrTooDeep},
		{"bad escape, then too deep", `{"a":"\q","b":` + strings.Repeat("[", DefaultMaxDepth) + `}`, ErrTooDeep},
		{"stray closer, then too deep", `{"a":]` + strings.Repeat("[", DefaultMaxDepth) + `}`, ErrMalformed},
		{"garbage at the limit", `{"a":x,"b":` + strings.Repeat("[", DefaultMaxDepth-1) + `}`, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if got := Validate(body, DefaultMaxDepth); got != tc.want {
				t.Errorf("Validate(%.80q) = %v, want %v", tc.body, got, tc.want)
			}
			// The table's own verdicts on validity must be encoding/json's.
			if tc.want != ErrTooDeep && json.Valid(body) != (tc.want != ErrMalformed) {
				t.Errorf("table disagrees with encoding/json.Valid(%.80q) = %v", tc.body, json.Valid(body))
			}
		})
	}
}

// TestValidateStringStops puts each byte that ends or breaks plain string
// text at every offset around the word boundaries, and near the end of
// the body where the scan goes byte by byte, and checks the verdict
// against encoding/json.
func TestValidateStringStops(t *testing.T) {
	stops := []string{`"`, `\"`, `\\`, `\n`, `\u0041`, `\u004`, `\x`, `\`, "\x00", "\x1f", "\n", " ", "\x7f", "\x80", "\xff"}
	for _, stop := range stops {
		for before := 0; before <= 18; before++ {
			for _, after := range []int{0, 1, 7, 8, 9, 20} {
				body := []byte(`{"a":"` + strings.Repeat("x", before) + stop + strings.Repeat("y", after) + `"}`)
				want := error(nil)
				if !json.Valid(body) {
					want = ErrMalformed
				}
				if got := Validate(body, DefaultMaxDepth); got != want {
					t.Errorf("Validate(%q) = %v, want %v", body, got, want)
				}
			}
		}
	}
}

// FuzzValidString: any string content, as a value, as a key and cut off
// at the end of the body, gets encoding/json's verdict.
func FuzzValidString(f *testing.F) {
	for _, s := range []string{``, `plain`, `a\"b\\c\/d\be\ff\ng\rh\ti`, `\u00e9\uD83D\uDE00`, `\u12G4`, "\x00", "\xff\xfe", `\`, `"`, `abcdefgh\qrstuvwxyz`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, body := range []string{
			`{"a":"` + s + `"}`,
			`{"` + s + `":1}`,
			`{"a":"` + s,
		} {
			want := error(nil)
			if !json.Valid([]byte(body)) {
				want = ErrMalformed
			}
			if got := Validate([]byte(body), DefaultMaxDepth); !errors.Is(got, want) || (want == nil && got != nil) {
				t.Fatalf("Validate(%q) = %v, want %v", body, got, want)
			}
		}
	})
}
