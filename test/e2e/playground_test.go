package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
)

// screenshotEnv names the variable that makes TestPlaygroundInChromium
// rewrite testdata/playground.png, so an ordinary run leaves the tree clean.
const screenshotEnv = "CPEN_UPDATE_SCREENSHOT"

// findBrowser returns the path of a Chromium, or "" and the names it
// looked for: the commands Debian, Ubuntu and Google's packages install.
func findBrowser() (path string, tried []string) {
	tried = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	for _, name := range tried {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return "", tried
}

// playgroundPage is what the rendered page shows, read from its DOM.
type playgroundPage struct {
	Tiers       []string   `json:"tiers"`
	Tier        string     `json:"tier"`
	Rows        []routeRow `json:"rows"`
	Chosen      string     `json:"chosen"`
	Reason      string     `json:"reason"`
	Estimate    string     `json:"estimate"`
	Receipt     string     `json:"receipt"`
	Answer      string     `json:"answer"`
	Budget      string     `json:"budget"`
	Error       string     `json:"error"`
	ErrorShown  bool       `json:"errorShown"`
	ResultShown bool       `json:"resultShown"`
	// Overflow is how far the page reaches past the viewport's right
	// edge, in CSS pixels: 0 when nothing runs off it.
	Overflow float64 `json:"overflow"`
}

type routeRow struct {
	Route  string `json:"route"`
	Fit    string `json:"fit"`
	Why    string `json:"why"`
	Chosen bool   `json:"chosen"`
}

const readPage = `(() => {
  const $ = id => document.getElementById(id);
  const right = Math.max(document.documentElement.scrollWidth,
    ...[...document.querySelectorAll("#result dd, #error, #answer, #budget")].map(e => e.getBoundingClientRect().right));
  return {
    tiers: [...$("tier").options].map(o => o.value), tier: $("tier").value,
    rows: [...document.querySelectorAll("#routes tbody tr[data-route]")].map(tr => ({route: tr.dataset.route,
      fit: tr.querySelector(".fit").textContent, why: tr.querySelector(".why").textContent, chosen: tr.classList.contains("chosen")})),
    chosen: $("chosen").textContent, reason: $("reason").textContent, estimate: $("estimate").textContent,
    receipt: $("receipt").textContent, answer: $("answer").textContent, budget: $("budget").textContent,
    error: $("error").textContent, errorShown: !$("error").hidden, resultShown: !$("result").hidden,
    overflow: Math.max(0, right - window.innerWidth),
  };
})()`

// setCap types a cap into the form as a visitor would, firing the input
// event the page redraws the table on.
func setCap(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q;
			e.dispatchEvent(new Event("input")); return true; })()`, id, value))(ctx, t)
		return err
	})
}

// The playground in a real headless Chromium, through Envoy (or the
// stand-in) at a phone's width: the route table of cpen/middle held
// against the cap the visitor types, a 402 explained with the price that
// would fit, then an answer with its chosen route highlighted, its reason,
// estimate and receipt, and the guest budget from the rate-limit headers.
func TestPlaygroundInChromium(t *testing.T) {
	browser, tried := findBrowser()
	if browser == "" {
		skip(t, "no Chromium: none of %s is on PATH and /usr/bin/chromium is missing (install it: apt-get install chromium)",
			strings.Join(tried, ", "))
	}
	report(t, "runs in %s", browser)
	s := startStack(t)

	// One bound for the whole browser session, start included.
	limit, stop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stop()
	alloc, closeAlloc := chromedp.NewExecAllocator(limit, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer closeAlloc()
	ctx, closeTab := chromedp.NewContext(alloc)
	defer closeTab()

	read := func() playgroundPage {
		t.Helper()
		p, err := chromedp.Run(ctx, chromedp.Evaluate[playgroundPage](readPage))
		if err != nil {
			t.Fatalf("read page: %v", err)
		}
		return p
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	do("load the page at a phone's width",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(s.url+"/playground"),
		chromedp.WaitVisible(chromedp.CSS(`#routes tbody tr[data-route]`)))
	p := read()
	if !slices.Equal(p.Tiers, []string{"cpen/low", "cpen/middle", "cpen/high"}) || p.Tier != "cpen/middle" {
		t.Errorf("tiers %v with %s selected, want the catalog's three with cpen/middle", p.Tiers, p.Tier)
	}
	// The default cap 0.30: route_mid_01 (0.04 + 0.24) fits, route_mid_02
	// (0.06 + 0.26) and route_mid_03 (0.05 EUR + 0.25 EUR at 1.08) do not.
	checkRows(t, "cap 0.30", p.Rows, []routeRow{
		{Route: "route_mid_01", Fit: "fits", Why: "total 0.28 ≤ cap 0.30"},
		{Route: "route_mid_02", Fit: "does not fit", Why: "total 0.32 > cap 0.30"},
		{Route: "route_mid_03", Fit: "does not fit", Why: "total 0.324 > cap 0.30"},
	})

	// Below every route: the table says so before sending, and the 402
	// says what would fit. A 402 takes no slot of the guest budget.
	do("send under a cap nothing fits",
		setCap("max", "0.27"),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	p = read()
	checkRows(t, "cap 0.27", p.Rows, []routeRow{
		{Route: "route_mid_01", Fit: "does not fit", Why: "total 0.28 > cap 0.27"},
		{Route: "route_mid_02", Fit: "does not fit", Why: "total 0.32 > cap 0.27"},
		{Route: "route_mid_03", Fit: "does not fit", Why: "total 0.324 > cap 0.27"},
	})
	if !strings.HasPrefix(p.Error, "No route fits your cap (402).") ||
		!strings.Contains(p.Error, "cheapest live route of cpen/middle costs 0.28 USD per 1M in total") || p.ResultShown {
		t.Errorf("402 shown as %q (result shown: %v)", p.Error, p.ResultShown)
	}

	do("send under a cap one route fits",
		setCap("max", "0.30"),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitVisible(chromedp.CSS("#routes tr.chosen")))
	p = read()
	if p.ErrorShown || !p.ResultShown {
		t.Fatalf("after the answer: error %q shown %v, result shown %v", p.Error, p.ErrorShown, p.ResultShown)
	}
	if p.Answer != "Hello from the a mock provider; you sent 1 message(s)." {
		t.Errorf("answer %q", p.Answer)
	}
	checkRows(t, "answered", p.Rows, []routeRow{
		{Route: "route_mid_01", Fit: "fits", Why: "total 0.28 ≤ cap 0.30", Chosen: true},
		{Route: "route_mid_02", Fit: "does not fit", Why: "total 0.32 > cap 0.30"},
		{Route: "route_mid_03", Fit: "does not fit", Why: "total 0.324 > cap 0.30"},
	})
	if p.Chosen != "route_mid_01 (gpt-mini-or-flash-class, cpen/middle)" {
		t.Errorf("chosen %q", p.Chosen)
	}
	if !strings.HasSuffix(p.Reason, "[balanced_fit, strategy balanced]") || len(p.Reason) <= len("[balanced_fit, strategy balanced]") {
		t.Errorf("reason %q", p.Reason)
	}
	// 0.3 × 0.04 + 0.7 × 0.24, the catalog's input share.
	if !strings.HasPrefix(p.Estimate, "0.18 USD per 1M tokens") {
		t.Errorf("estimate %q", p.Estimate)
	}
	checkReceipt(t, p.Receipt, decimal.RequireFromString("0.04"), decimal.RequireFromString("0.24"))
	if !strings.HasPrefix(p.Budget, "Guest budget: 1 of 2 requests left this minute") {
		t.Errorf("budget %q", p.Budget)
	}
	if p.Overflow > 0 {
		t.Errorf("at 390 px the page runs %.0f px off the right edge", p.Overflow)
	}

	// The README's picture: the same state at a desktop width.
	do("widen the page", chromedp.EmulateViewport(960, 900))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil || !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot: %d bytes, %v", len(shot), err)
	}
	if os.Getenv(screenshotEnv) == "1" {
		if err := os.WriteFile(filepath.Join("testdata", "playground.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkRows holds the table's rows, in order, to want.
func checkRows(t *testing.T, when string, got, want []routeRow) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: table rows\n got %+v\nwant %+v", when, got, want)
	}
}

// checkReceipt holds the receipt, "<cost> USD for <p> prompt + <c>
// completion tokens", to the cost of those tokens at the route's visible
// prices, exactly.
func checkReceipt(t *testing.T, receipt string, in, out decimal.Decimal) {
	t.Helper()
	var cost string
	var prompt, completion int64
	if _, err := fmt.Sscanf(receipt, "%s USD for %d prompt + %d completion tokens", &cost, &prompt, &completion); err != nil {
		t.Fatalf("receipt %q: %v", receipt, err)
	}
	want := decimal.NewFromInt(prompt).Mul(in).Add(decimal.NewFromInt(completion).Mul(out)).Shift(-6)
	got, err := decimal.NewFromString(cost)
	if err != nil || !got.Equal(want) || prompt == 0 || completion == 0 {
		t.Errorf("receipt %q, want %s USD for %d + %d tokens", receipt, want, prompt, completion)
	}
}
