package faults

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// loadKey is the catalog's key_load, with an RPM cap no run reaches.
const loadKey = "cpen_live_faults_load"

// chatBody is a small chat request for the low tier.
const chatBody = `{"model":"cpen/low","max_completion_tokens":16,"messages":[{"role":"user","content":"Classify: the parcel arrived late."}]}`

// verdict is how a scenario judges one answer.
type verdict int

const (
	succeeded verdict = iota
	refused           // an answer the scenario expects under its fault
	lost              // a transport error or an answer it does not expect
)

// judge classifies one answer; err is a transport error (status 0).
type judge func(status int, body []byte, err error) verdict

// onlyOK expects every request to succeed.
func onlyOK(status int, _ []byte, err error) verdict {
	if err == nil && status == http.StatusOK {
		return succeeded
	}
	return lost
}

// sample is one request's outcome.
type sample struct {
	start   time.Time
	latency time.Duration
	status  int
	verdict verdict
}

// load is closed-loop traffic: each worker sends its next request when the
// previous one is answered.
type load struct {
	url    string
	client *http.Client
	judge  judge
	body   func(i int) (string, map[string]string)

	mu         sync.Mutex
	samples    []sample
	lostDetail []string
	faultFrom  time.Time
	faultTo    time.Time
}

func newLoad(url string, j judge) *load {
	return &load{
		url:    url,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		judge:  j,
		body: func(int) (string, map[string]string) {
			return chatBody, map[string]string{"Authorization": "Bearer " + loadKey}
		},
	}
}

// run drives workers until ctx ends and returns when all have stopped.
func (l *load) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += workers {
				l.one(i)
			}
		}()
	}
	wg.Wait()
	l.client.CloseIdleConnections()
}

// one sends request i; requests are never cut short by the load's end, so
// each one sent is judged.
func (l *load) one(i int) {
	body, hdr := l.body(i)
	req, err := http.NewRequest(http.MethodPost, l.url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		panic(err) // a constant URL and body: a bug in the test
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := l.client.Do(req)
	status := 0
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
	}
	s := sample{start: start, latency: time.Since(start), status: status, verdict: l.judge(status, raw, err)}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples = append(l.samples, s)
	if s.verdict == lost && len(l.lostDetail) < 5 {
		detail := string(raw)
		if err != nil {
			detail = err.Error()
		}
		l.lostDetail = append(l.lostDetail, http.StatusText(status)+" "+detail)
	}
}

// faultOn and faultOff bound the window the p99 is taken over.
func (l *load) faultOn() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faultFrom = time.Now()
}

func (l *load) faultOff() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faultTo = time.Now()
}

// row summarises the run; with no fault window the p99 covers every request.
func (l *load) row(scenario string) row {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := row{Scenario: scenario, Refused: map[int]int{}}
	var during []time.Duration
	for _, s := range l.samples {
		r.Sent++
		switch s.verdict {
		case succeeded:
			r.Succeeded++
		case refused:
			r.Refused[s.status]++
		case lost:
			r.Lost++
		}
		inWindow := l.faultFrom.IsZero() ||
			(!s.start.Before(l.faultFrom) && (l.faultTo.IsZero() || s.start.Before(l.faultTo)))
		if inWindow {
			during = append(during, s.latency)
		}
	}
	r.P99 = percentile(during, 99)
	return r
}

// percentile is the nearest-rank percentile; 0 for no samples.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	rank := (p*len(d) + 99) / 100 // ceil(p/100 * n)
	return d[max(rank, 1)-1]
}

func (l *load) lostSamples() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lostDetail)
}
