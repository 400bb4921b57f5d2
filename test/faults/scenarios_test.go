package faults

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The scenarios run one after the other (no t.Parallel): the table keeps
// their order and the machine's cores are not split between them.

func TestRedisKilledAndBack(t *testing.T) {
	r := startRedis(t)
	p := startProviders(t)
	sc := startSidecar(t, writeCatalog(t), "", "--redis-addr", r.addr, "--redis-failure-mode", "open")
	_, url := front(t, p, sc.grpcAddr)
	l := newLoad(url, onlyOK)
	stop := runWith(l, 8)
	time.Sleep(time.Second) // load before the fault
	l.faultOn()
	r.kill()
	time.Sleep(1500 * time.Millisecond) // the fault's length
	r.start()
	l.faultOff()
	time.Sleep(time.Second)
	stop()
	record(t, l, "Redis killed (SIGKILL), restarted")
}

func TestRedisHungAndBack(t *testing.T) {
	r := startRedis(t)
	p := startProviders(t)
	sc := startSidecar(t, writeCatalog(t), "", "--redis-addr", r.addr, "--redis-failure-mode", "open")
	_, url := front(t, p, sc.grpcAddr)
	l := newLoad(url, onlyOK)
	stop := runWith(l, 8)
	time.Sleep(time.Second)
	l.faultOn()
	r.pause()
	time.Sleep(1500 * time.Millisecond)
	r.resume()
	l.faultOff()
	time.Sleep(time.Second)
	stop()
	record(t, l, "Redis hung (SIGSTOP), resumed")
}

// A failing model's 500 reaches the client as the provider sent it (no
// retry is configured); a slow model only costs latency.
func TestProviderFailing(t *testing.T) {
	p := startProviders(t)
	sc := startSidecar(t, writeCatalog(t), "")
	_, url := front(t, p, sc.grpcAddr)
	l := newLoad(url, func(status int, body []byte, err error) verdict {
		switch {
		case err != nil:
			return lost
		case status == http.StatusOK:
			return succeeded
		case status == http.StatusInternalServerError && bytes.Contains(body, []byte("server_error")):
			return refused
		}
		return lost
	})
	stop := runWith(l, 8)
	time.Sleep(time.Second)
	l.faultOn()
	// The low tier's balanced choice is route_low_02 on provider b.
	p.b.FailModel("upstream-small-eur", true)
	p.a.SlowModel("upstream-nano", 200*time.Millisecond)
	time.Sleep(1500 * time.Millisecond)
	p.b.FailModel("upstream-small-eur", false)
	p.a.SlowModel("upstream-nano", 0)
	l.faultOff()
	time.Sleep(time.Second)
	stop()
	record(t, l, "provider failing (500) and slow (200ms)")
}

// Two replicas behind the stand-in's health-checked cluster; each in turn
// gets SIGTERM (NOT_SERVING at once, new streams still served for the
// drain delay, open ones finished) and a replacement on the same address.
func TestRollingRestart(t *testing.T) {
	r := startRedis(t)
	p := startProviders(t)
	cat := writeCatalog(t)
	args := []string{"--redis-addr", r.addr, "--drain-delay", "500ms", "--drain-timeout", "10s"}
	scs := []*sidecar{startSidecar(t, cat, "", args...), startSidecar(t, cat, "", args...)}
	proxy, url := front(t, p, scs[0].grpcAddr, scs[1].grpcAddr)
	l := newLoad(url, onlyOK)
	stop := runWith(l, 8)
	time.Sleep(time.Second)
	l.faultOn()
	for i, old := range scs {
		if err := old.stop(); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		scs[i] = startSidecar(t, cat, old.grpcAddr, args...)
		waitEndpoints(t, proxy, true)
	}
	l.faultOff()
	time.Sleep(500 * time.Millisecond)
	stop()
	for _, e := range proxy.Endpoints() {
		if e.Streams == 0 {
			t.Errorf("endpoint %s got no stream: the cluster did not spread", e.Addr)
		}
	}
	record(t, l, "rolling restart of 2 replicas")
}

// The catalog is replaced by rename 20 times under load, each swap
// waited for until the sidecar applied it.
func TestReloadStorm(t *testing.T) {
	p := startProviders(t)
	cat := writeCatalog(t)
	sc := startSidecar(t, cat, "", "--catalog-poll", "100ms")
	_, url := front(t, p, sc.grpcAddr)
	orig, err := os.ReadFile(cat)
	if err != nil {
		t.Fatal(err)
	}
	l := newLoad(url, onlyOK)
	stop := runWith(l, 8)
	time.Sleep(500 * time.Millisecond)
	l.faultOn()
	const applied = `cpen_catalog_reloads_total{outcome="applied"}`
	for i := range 20 {
		before := sc.counter(applied)
		next := strings.Replace(string(orig), "# reload storm toggles this comment", "# reload "+strings.Repeat("x", i+1), 1)
		tmp := filepath.Join(filepath.Dir(cat), ".next.yaml")
		if err := os.WriteFile(tmp, []byte(next), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cat); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "reload applied", func() bool { return sc.counter(applied) > before })
	}
	l.faultOff()
	stop()
	if n := sc.counter(applied); n < 20 {
		t.Errorf("%d reloads applied, want 20", n)
	}
	record(t, l, "reload storm: 20 catalog swaps")
}

// Past --max-streams 4 a stream is refused at once: Envoy, failing closed,
// answers 500.
func TestOverload(t *testing.T) {
	p := startProviders(t)
	sc := startSidecar(t, writeCatalog(t), "", "--max-streams", "4")
	_, url := front(t, p, sc.grpcAddr)
	p.a.SetDelay(20 * time.Millisecond)
	p.b.SetDelay(20 * time.Millisecond)
	l := newLoad(url, func(status int, _ []byte, err error) verdict {
		switch {
		case err != nil:
			return lost
		case status == http.StatusOK:
			return succeeded
		case status == http.StatusInternalServerError:
			return refused
		}
		return lost
	})
	stop := runWith(l, 16)
	time.Sleep(3 * time.Second)
	stop()
	if code, _ := sc.get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d after overload", code)
	}
	r := record(t, l, "overload: 16 clients, --max-streams 4")
	if r.Refused[http.StatusInternalServerError] == 0 {
		t.Error("no stream was refused at the bound")
	}
}

// hostile is one malformed request; every one must get a 4xx.
type hostile struct {
	body string
	hdr  map[string]string
}

func hostileInputs() []hostile {
	auth := map[string]string{"Authorization": "Bearer " + loadKey}
	return []hostile{
		{`{`, auth},
		{`not json`, auth},
		{`[]`, auth},
		{`{"model":"cpen/low"}`, auth},
		{`{"model":"cpen/nope","messages":[{"role":"user","content":"x"}]}`, auth},
		{`{"model":42,"messages":[{"role":"user","content":"x"}]}`, auth},
		{`{"model":"cpen/low","messages":"x"}`, auth},
		{`{"model":"cpen/low","messages":[{"role":"user","content":"x"}],"routing":"cheap"}`, auth},
		{`{"model":"cpen/low","messages":[{"role":"user","content":"x"}],"routing":{"strategy":"bogus"}}`, auth},
		{`{"model":"cpen/low","messages":[{"role":"user","content":"x"}],"model":"cpen/middle"}`, auth},
		{chatBody, map[string]string{"Authorization": "Bearer cpen_live_unknown"}},
		{chatBody, nil},
		{`{"model":"cpen/low","messages":[{"role":"user","content":"` + strings.Repeat("a", 5<<20) + `"}]}`, auth},
	}
}

func TestHostileInputs(t *testing.T) {
	p := startProviders(t)
	sc := startSidecar(t, writeCatalog(t), "")
	_, url := front(t, p, sc.grpcAddr)
	inputs := hostileInputs()
	l := newLoad(url, func(status int, _ []byte, err error) verdict {
		if err == nil && status >= 400 && status < 500 {
			return refused
		}
		return lost
	})
	l.body = func(i int) (string, map[string]string) {
		h := inputs[i%len(inputs)]
		return h.body, h.hdr
	}
	for i := range 10 * len(inputs) {
		l.one(i)
	}
	if code, _ := sc.get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d after hostile inputs", code)
	}
	// The sidecar still serves a normal request.
	ok := newLoad(url, onlyOK)
	ok.one(0)
	if r := ok.row("check"); r.Succeeded != 1 {
		t.Errorf("a normal request after hostile inputs: %+v %q", r, ok.lostSamples())
	}
	record(t, l, "hostile inputs")
}
