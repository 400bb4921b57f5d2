package credit

import (
	"encoding/json"
	"testing"
)

var settings = Settings{OutputTokens: 4096, TokensPerMediaPart: 1500}

func TestOf(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		media  int64
		output int64
	}{
		{"no bound", `{"model":"cpen/middle","messages":[{"role":"user","content":"hi"}]}`, 0, 4096},
		{"max_tokens", `{"max_tokens":100,"messages":[]}`, 0, 100},
		{"max_completion_tokens wins", `{"max_tokens":100,"max_completion_tokens":7}`, 0, 7},
		{"zero", `{"max_completion_tokens":0}`, 0, 0},
		{"not an integer", `{"max_completion_tokens":1e3,"max_tokens":-5}`, 0, 4096},
		{"null falls back", `{"max_completion_tokens":null,"max_tokens":12}`, 0, 12},
		{"duplicates take the larger", `{"max_tokens":5,"max_tokens":50}`, 0, 50},
		{"image and audio", `{"messages":[{"role":"user","content":[
			{"type":"text","text":"look"},
			{"type": "image_url","image_url":{"url":"data:x"}},
			{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}]}]}`, 2, 4096},
		{"names in text are not parts", `{"messages":[{"role":"user","content":"say \"image_url\" or {\"type\":\"input_audio\"}"}]}`, 0, 4096},
		{"outside messages", `{"metadata":{"type":"image_url"},"messages":[]}`, 0, 4096},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Of([]byte(tc.body), settings)
			want := Bound{Prompt: int64(len(tc.body)) + tc.media*1500, Output: tc.output}
			if got != want {
				t.Errorf("Of = %+v, want %+v", got, want)
			}
		})
	}
}

// countParts counts media parts by decoding, for the fuzz oracle.
func countParts(messages []byte) (int, bool) {
	var ms []struct {
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(messages, &ms) != nil {
		return 0, false
	}
	n := 0
	for _, m := range ms {
		var parts []struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(m.Content, &parts) != nil {
			continue
		}
		for _, p := range parts {
			if p.Type == "image_url" || p.Type == "input_audio" {
				n++
			}
		}
	}
	return n, true
}

// MediaParts never misses a part a decoder finds, whatever the text around
// it.
func FuzzMediaParts(f *testing.F) {
	f.Add(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]}]`)
	f.Add(`[{"content":"\"image_url\""},{"content":[{"type" : "input_audio"}]}]`)
	f.Add(`[{"content":[{"type":"text","text":"\\"},{"type":"image_url"}]}]`)
	f.Fuzz(func(t *testing.T, messages string) {
		want, ok := countParts([]byte(messages))
		if !ok || !json.Valid([]byte(messages)) {
			return
		}
		if got := MediaParts([]byte(messages)); got < want {
			t.Errorf("MediaParts(%q) = %d, a decoder finds %d", messages, got, want)
		}
	})
}
