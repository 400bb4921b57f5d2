package load_test

import (
	"errors"
	"testing"

	"github.com/cpen/router/test/bench/load"
)

func TestFindBodySet(t *testing.T) {
	tests := []struct {
		name            string
		reqLen, respLen int
	}{
		{load.DefaultBodySet, 2048, 600},
		{"req200k", 200 << 10, 600},
		{"req1m", 1 << 20, 600},
		{"resp200k", 2048, 200 << 10},
		{"resp1m", 2048, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := load.FindBodySet(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if b.Name != tt.name || len(b.Req) != tt.reqLen || len(b.Resp) != tt.respLen {
				t.Errorf("%s: request %d bytes, response %d; want %d, %d", b.Name, len(b.Req), len(b.Resp), tt.reqLen, tt.respLen)
			}
		})
	}
	if _, err := load.FindBodySet("huge"); !errors.Is(err, load.ErrUnknownBodySet) {
		t.Errorf("FindBodySet(huge): err = %v, want ErrUnknownBodySet", err)
	}
}
