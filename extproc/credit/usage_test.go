package credit

import "testing"

func TestParseUsage(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want Usage
		ok   bool
	}{
		{"answer", `{"id":"x","choices":[],"usage":{"prompt_tokens":42,"completion_tokens":18,"total_tokens":60}}`, Usage{42, 18}, true},
		{"details first", `{"usage":{"completion_tokens_details":{"reasoning_tokens":5},"completion_tokens":3,"prompt_tokens":9}}`, Usage{9, 3}, true},
		{"null usage", `{"choices":[],"usage":null}`, Usage{}, false},
		{"no usage", `{"choices":[]}`, Usage{}, false},
		{"missing count", `{"usage":{"prompt_tokens":4}}`, Usage{}, false},
		{"not an integer", `{"usage":{"prompt_tokens":4.5,"completion_tokens":1}}`, Usage{}, false},
		{"nested usage is not the answer's", `{"choices":[{"usage":{"prompt_tokens":1,"completion_tokens":1}}]}`, Usage{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseUsage([]byte(tc.obj))
			if got != tc.want || ok != tc.ok {
				t.Errorf("ParseUsage = %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
