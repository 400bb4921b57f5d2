package ab

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The sidecar's own time per request is the change of the total phase's
// sum over the change of its count between two scrapes.
func TestSelfTime(t *testing.T) {
	sum, count := 0.5, 100
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE cpen_extproc_processing_seconds histogram\n"+
			"cpen_extproc_processing_seconds_bucket{phase=\"request_body\",le=\"+Inf\"} 7\n"+
			"cpen_extproc_processing_seconds_sum{phase=\"request_body\"} 9\n"+
			"cpen_extproc_processing_seconds_count{phase=\"request_body\"} 7\n"+
			"cpen_extproc_processing_seconds_bucket{phase=\"total\",le=\"+Inf\"} %d\n"+
			"cpen_extproc_processing_seconds_sum{phase=\"total\"} %g\n"+
			"cpen_extproc_processing_seconds_count{phase=\"total\"} %d\n", count, sum, count)
	}))
	defer srv.Close()
	before, err := readSelfTime(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	sum, count = 0.8, 400 // 300 requests took 0.3 s more
	after, err := readSelfTime(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.perRequest(before); got != time.Millisecond {
		t.Errorf("per request %v, want 1ms", got)
	}
	if got := before.perRequest(before); got != 0 {
		t.Errorf("no requests between scrapes: %v", got)
	}
}
