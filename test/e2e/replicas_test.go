package e2e

import (
	"errors"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/redistest"
)

// Two replicas behind two Envoys share one real Redis: the RPM window and
// the continuity pin of a key are the same whichever replica serves it.
func TestReplicasShareRedis(t *testing.T) {
	r := redistest.Start(t)
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	cat := writeCatalog(t)
	a := startSidecar(t, cat, "--redis-addr", r.Addr)
	b := startSidecar(t, cat, "--redis-addr", r.Addr)
	urls := []string{s.front(a), s.front(b)}

	send := func(url, key string, routing any) (map[string]any, error) {
		t.Helper()
		c := sdkClient(url, key)
		comp, err := c.Chat.Completions.New(ctx(t), openai.ChatCompletionNewParams{
			Model:    "cpen/middle",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tag: refund request.")},
		}, option.WithJSONSet("routing", routing))
		if err != nil {
			return nil, err
		}
		return cpenRoute(t, comp), nil
	}

	// rpm_cap 2 across replicas: A, B, then A again is over the cap.
	capped := route{"rpm_cap": 2}
	for i, url := range []string{urls[0], urls[1]} {
		if _, err := send(url, rpmKey, capped); err != nil {
			t.Fatalf("admission %d: %v", i, err)
		}
	}
	_, err := send(urls[0], rpmKey, capped)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("third request across replicas: %v, want 429", err)
	}

	// A continuity pin set through replica A is read by replica B.
	cont := route{"strategy": "continuity", "min_total_per_1m": "0.30"}
	got, err := send(urls[0], stayKey, cont)
	if err != nil || got["reason_code"] != "continuity_new_pin" {
		t.Fatalf("pin on A: %v %v", got, err)
	}
	pinned := got["route_id"]
	got, err = send(urls[1], stayKey, route{"strategy": "continuity"})
	if err != nil || got["reason_code"] != "continuity_pinned" || got["route_id"] != pinned {
		t.Fatalf("on B: %v %v, want continuity_pinned on %v", got, err, pinned)
	}
}
