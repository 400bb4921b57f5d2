package load

import (
	"encoding/json"
	"testing"
)

type chatReq struct {
	Model   string            `json:"model"`
	Routing map[string]string `json:"routing"`
	Msgs    []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

type chatResp struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
}

func TestBodies(t *testing.T) {
	wantRouting := map[string]string{"max_total_per_1m": "0.30", "min_total_per_1m": "0.05", "strategy": "balanced"}
	requests := []struct {
		name string
		body []byte
		size int
	}{
		{"default request", DefaultRequest(), 2048},
		{"generated 2 KiB", ChatRequest(2048), 2048},
		{"generated 200 KiB", ChatRequest(200 << 10), 200 << 10},
		{"generated, below the minimum", ChatRequest(10), 0},
	}
	for _, tt := range requests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.size > 0 && len(tt.body) != tt.size {
				t.Errorf("size %d, want %d", len(tt.body), tt.size)
			}
			var r chatReq
			if err := json.Unmarshal(tt.body, &r); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if r.Model != "cpen/middle" || len(r.Msgs) != 2 || r.Msgs[1].Role != "user" {
				t.Errorf("model %q, messages %d", r.Model, len(r.Msgs))
			}
			for k, v := range wantRouting {
				if r.Routing[k] != v || len(r.Routing) != len(wantRouting) {
					t.Errorf("routing %v, want %v", r.Routing, wantRouting)
				}
			}
		})
	}
	responses := []struct {
		name string
		body []byte
		size int
	}{
		{"default response", DefaultResponse(), 600},
		{"generated 1 MiB", ChatResponse(1 << 20), 1 << 20},
		{"generated, below the minimum", ChatResponse(1), 0},
	}
	for _, tt := range responses {
		t.Run(tt.name, func(t *testing.T) {
			if tt.size > 0 && len(tt.body) != tt.size {
				t.Errorf("size %d, want %d", len(tt.body), tt.size)
			}
			var r chatResp
			if err := json.Unmarshal(tt.body, &r); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if r.Object != "chat.completion" || r.Model != UpstreamModel || len(r.Choices) != 1 {
				t.Errorf("object %q, model %q, choices %d", r.Object, r.Model, len(r.Choices))
			}
		})
	}
}

func TestDefaultBodiesAreCopies(t *testing.T) {
	b := DefaultRequest()
	b[0] = 'x'
	if DefaultRequest()[0] != '{' {
		t.Fatal("DefaultRequest shares its bytes")
	}
}
