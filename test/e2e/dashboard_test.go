package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/redistest"
)

// dashboardPath is the Grafana dashboard the Helm chart ships.
var dashboardPath = filepath.Join("..", "..", "charts", "cpen-router", "dashboards", "cpen-router.json")

// datasourceUID is how every panel and query names its data source: the
// dashboard's datasource variable, so the dashboard works with whichever
// Prometheus an installation picks.
const datasourceUID = "${datasource}"

type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Panels        []dashboardPanel
	Templating    struct {
		List []dashboardVariable `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboardPanel struct {
	ID         *int           `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Collapsed  bool           `json:"collapsed"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	// A collapsed row holds its panels; an expanded row's panels follow
	// it at the top level.
	Panels []dashboardPanel `json:"panels"`
}

type dashboardVariable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *datasourceRef  `json:"datasource"`
	Query      json.RawMessage `json:"query"`
}

// queryText is a variable's query: Grafana saves a string, or since its
// structured variable editor an object holding the string.
func (v dashboardVariable) queryText() (string, error) {
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &o); err != nil {
		return "", fmt.Errorf("variable %s: query %s: %w", v.Name, v.Query, err)
	}
	return o.Query, nil
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// walkPanels calls fn on every panel, rows and the panels of collapsed
// rows included.
func walkPanels(panels []dashboardPanel, fn func(p dashboardPanel)) {
	for _, p := range panels {
		fn(p)
		walkPanels(p.Panels, fn)
	}
}

// dashboardQuery is one PromQL text of the dashboard and where it is.
type dashboardQuery struct {
	where string
	expr  string
	names []string // the metric names it selects
	err   error
}

// dashboardQueries are every panel target's expression and every template
// variable's query, with the metric names each names.
func dashboardQueries(d dashboard) []dashboardQuery {
	var out []dashboardQuery
	walkPanels(d.Panels, func(p dashboardPanel) {
		for _, tg := range p.Targets {
			names, err := promqlMetricNames(tg.Expr)
			out = append(out, dashboardQuery{
				where: fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), expr: tg.Expr, names: names, err: err,
			})
		}
	})
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := v.queryText()
		var names []string
		if err == nil {
			names, err = grafanaVariableMetricNames(q)
		}
		out = append(out, dashboardQuery{where: "variable " + v.Name, expr: q, names: names, err: err})
	}
	return out
}

// grafanaVariableRef finds $name, ${name} and ${name:format} in a query.
var grafanaVariableRef = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)(?::[^}]*)?\}|([A-Za-z0-9_]+))`)

// TestDashboardStructure: the chart's dashboard parses, takes its
// Prometheus from the datasource variable everywhere, has unique panel ids,
// a title and at least one query on every panel (a row only groups
// panels), panels inside the 24-column grid, and queries that read and
// use only variables the dashboard defines or Grafana provides.
func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 38 || d.UID == "" || d.Title == "" {
		t.Errorf("schemaVersion %d uid %q title %q; want schema 38 or later, a uid and a title", d.SchemaVersion, d.UID, d.Title)
	}

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			if q, err := v.queryText(); err != nil || v.Name != "datasource" || q != "prometheus" {
				t.Errorf("data source variable %s of plugin %q (%v), want datasource of prometheus", v.Name, q, err)
			}
		case "query":
			if v.Datasource == nil || v.Datasource.UID != datasourceUID {
				t.Errorf("variable %s: data source %+v, want uid %s", v.Name, v.Datasource, datasourceUID)
			}
		}
	}
	if !vars["datasource"] {
		t.Errorf("no datasource variable among %v", slices.Sorted(maps.Keys(vars)))
	}

	ids := map[int]string{}
	walkPanels(d.Panels, func(p dashboardPanel) {
		if p.Title == "" {
			t.Errorf("panel %v of type %s has no title", p.ID, p.Type)
		}
		if p.ID == nil || *p.ID <= 0 {
			t.Errorf("panel %q has no id", p.Title)
		} else if other, dup := ids[*p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, *p.ID)
		} else {
			ids[*p.ID] = p.Title
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		if p.Type == "row" {
			if len(p.Targets) != 0 || (!p.Collapsed && len(p.Panels) != 0) || (p.Collapsed && len(p.Panels) == 0) {
				t.Errorf("row %q: %d targets, collapsed %v with %d panels; a row has no query, and holds panels only when collapsed",
					p.Title, len(p.Targets), p.Collapsed, len(p.Panels))
			}
			return
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no target", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != datasourceUID {
			t.Errorf("panel %q: data source %+v, want uid %s", p.Title, p.Datasource, datasourceUID)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] || strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q: target %q is unnamed, repeated or empty: %q", p.Title, tg.RefID, tg.Expr)
			}
			refs[tg.RefID] = true
			if tg.Datasource == nil || tg.Datasource.UID != datasourceUID {
				t.Errorf("panel %q target %s: data source %+v, want uid %s", p.Title, tg.RefID, tg.Datasource, datasourceUID)
			}
		}
	})

	for _, q := range dashboardQueries(d) {
		if q.err != nil {
			t.Errorf("%s: %v", q.where, q.err)
			continue
		}
		if len(q.names) == 0 {
			t.Errorf("%s names no metric: %q", q.where, q.expr)
		}
		for _, m := range grafanaVariableRef.FindAllStringSubmatch(q.expr, -1) {
			name := m[1] + m[2]
			if !vars[name] && !strings.HasPrefix(name, "__") {
				t.Errorf("%s uses $%s, which the dashboard does not define: %q", q.where, name, q.expr)
			}
		}
	}
}

// TestDashboardMetricsLive: every metric the dashboard's queries name is
// one the sidecar exports. The stack runs with Redis, and sees the traffic
// that makes each labelled series exist: a routed chat, a stream, a 402,
// a catalog reload, and a request while Redis is gone (served on the
// replica's own windows, with a Redis error counted).
func TestDashboardMetricsLive(t *testing.T) {
	used := map[string][]string{} // metric name → where the dashboard uses it
	for _, q := range dashboardQueries(loadDashboard(t)) {
		if q.err != nil {
			t.Fatalf("%s: %v", q.where, q.err)
		}
		for _, n := range q.names {
			used[n] = append(used[n], q.where)
		}
	}

	r := redistest.Start(t)
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	s.sidecar = startSidecar(t, writeCatalog(t), "--redis-addr", r.Addr)
	s.url = s.front(s.sidecar)

	mustChat(t, s, seedKey, "cpen/middle", route{"strategy": "cheapest"})

	c := s.client(seedKey)
	stream := c.Chat.Completions.NewStreaming(ctx(t), openai.ChatCompletionNewParams{
		Model:    "cpen/middle",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello in five words.")},
	})
	chunks := 0
	for stream.Next() {
		chunks++
	}
	if err := stream.Err(); err != nil || chunks == 0 {
		t.Fatalf("stream: %d chunks, %v", chunks, err)
	}

	_, _, err := chat(t, s, errorsKey, "cpen/middle", route{"max_total_per_1m": "0.01"})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 402 {
		t.Fatalf("request under every route's price: %v, want a 402", err)
	}

	s.reloadCatalog(func(c string) string {
		return strings.Replace(c, "# End-to-end catalog", "# End-to-end catalog, reloaded", 1)
	})

	r.Stop()
	mustChat(t, s, seedKey, "cpen/middle", route{"strategy": "cheapest"})

	// The sidecar records a request's duration and token usage when its
	// ext_proc stream ends, which may come after the client has read the
	// answer; /metrics is read again until every name is there or the
	// deadline passes.
	var families map[string]*dto.MetricFamily
	var missing []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		families = scrapeFamilies(t, s.adminURL)
		missing = missing[:0]
		for _, n := range slices.Sorted(maps.Keys(used)) {
			if _, ok := seriesFamily(n, families); !ok {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range missing {
		t.Errorf("the dashboard uses %s, which the sidecar's /metrics does not export (%s)", n, strings.Join(used[n], "; "))
	}
	found := 0
	for n := range used {
		if _, ok := seriesFamily(n, families); ok {
			found++
		}
	}
	t.Logf("%d of %d metric names the dashboard uses are exported; %d families on /metrics", found, len(used), len(families))
}

// scrapeFamilies reads the sidecar's /metrics into its metric families.
func scrapeFamilies(t *testing.T, adminURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	families, err := parseExposition(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return families
}

// parseExposition parses Prometheus' text format, the format /metrics
// answers a client that asks for none other.
func parseExposition(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}
