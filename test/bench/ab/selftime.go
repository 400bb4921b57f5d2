package ab

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// selfTime is what the sidecar says it spent on requests: the sum and
// count of cpen_extproc_processing_seconds{phase="total"}.
type selfTime struct {
	sum   float64
	count uint64
}

// readSelfTime scrapes the sidecar's own measure of its time per request.
func readSelfTime(ctx context.Context, url string) (selfTime, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return selfTime{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return selfTime{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return selfTime{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	for _, m := range families["cpen_extproc_processing_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "phase" && l.GetValue() == "total" {
				h := m.GetHistogram()
				return selfTime{sum: h.GetSampleSum(), count: h.GetSampleCount()}, nil
			}
		}
	}
	return selfTime{}, nil
}

// perRequest is the sidecar's own time per request between two scrapes.
func (a selfTime) perRequest(before selfTime) time.Duration {
	n := a.count - before.count
	if n == 0 || a.count < before.count {
		return 0
	}
	return time.Duration((a.sum - before.sum) / float64(n) * float64(time.Second))
}
