package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sdkSnippet is one of the README's SDK examples, kept as a file so that
// the README text and the program this suite runs are the same bytes.
type sdkSnippet struct {
	name  string // subtest name and the language a skip reason names
	file  string // under testdata/sdk
	fence string // the README's code fence language
}

var sdkSnippets = []sdkSnippet{
	{name: "go", file: "go/main.go", fence: "go"},
	{name: "node", file: "node.mjs", fence: "js"},
	{name: "python", file: "python.py", fence: "python"},
}

// sdkWant is what every snippet prints against the e2e catalog with
// seedKey (limit 60): the same calls in three languages.
const sdkWant = `route route_mid_01 0.18 balanced_fit
header route_mid_01 60
stream route_mid_01 completed text
refused 402 no_route_under_budget false
refused 503 tier_unavailable false
`

func readSnippet(t *testing.T, sn sdkSnippet) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sdk", filepath.FromSlash(sn.file)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README shows each snippet verbatim in a fenced block, so a reader
// copies exactly what this suite runs.
func TestSDKReadmeSnippets(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range sdkSnippets {
		t.Run(sn.name, func(t *testing.T) {
			block := "```" + sn.fence + "\n" + readSnippet(t, sn) + "```\n"
			if !bytes.Contains(readme, []byte(block)) {
				t.Errorf("README.md has no ```%s block holding testdata/sdk/%s verbatim", sn.fence, sn.file)
			}
		})
	}
}

// Each snippet runs against a live stack and prints what the router
// answered. The SDKs keep their default retries (two), so the refusals
// being counted once each shows that they obeyed x-should-retry: false.
// Node and Python run only where their SDK can be had; a skip says why.
func TestSDKSnippets(t *testing.T) {
	s := startStack(t)
	for _, sn := range sdkSnippets {
		t.Run(sn.name, func(t *testing.T) {
			cmd := snippetCommand(t, sn)
			cmd.Env = append(os.Environ(), "CPEN_BASE_URL="+s.url+"/v1", "CPEN_API_KEY="+seedKey)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			budget, planned := s.rejected("no_route_under_budget"), s.rejected("tier_unavailable")
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", cmd, err, stdout.String(), stderr.String())
			}
			report(t, "ran the %s snippet (%s)", sn.name, cmd)
			if got := stdout.String(); got != sdkWant {
				t.Errorf("%s printed:\n%s\nwant:\n%s\nstderr:\n%s", sn.name, got, sdkWant, stderr.String())
			}
			if n := s.rejected("no_route_under_budget") - budget; n != 1 {
				t.Errorf("402 sent %d times, want once", n)
			}
			if n := s.rejected("tier_unavailable") - planned; n != 1 {
				t.Errorf("planned tier's 503 sent %d times, want once (no retry)", n)
			}
		})
	}
}

// snippetCommand is the command that runs a snippet, or skips the subtest
// with the reason it cannot run here.
func snippetCommand(t *testing.T, sn sdkSnippet) *exec.Cmd {
	t.Helper()
	switch sn.name {
	case "go":
		bin := filepath.Join(t.TempDir(), "sdk")
		build := exec.Command("go", "build", "-o", bin, "./testdata/sdk/go")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build the Go snippet: %v\n%s", err, out)
		}
		return exec.Command(bin)
	case "node":
		if _, err := exec.LookPath("node"); err != nil {
			skip(t, "node snippet: no node on PATH")
		}
		if _, err := exec.LookPath("npm"); err != nil {
			skip(t, "node snippet: no npm on PATH to install the openai package")
		}
		// ES modules resolve "openai" from the script's directory, so the
		// snippet runs from the directory the package is installed into.
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private": true}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		install := exec.CommandContext(c, "npm", "install", "--no-audit", "--no-fund", "openai")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			skip(t, "node snippet: npm install openai failed: %v\n%s", err, out)
		}
		if err := os.WriteFile(filepath.Join(dir, "node.mjs"), []byte(readSnippet(t, sn)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("node", "node.mjs")
		cmd.Dir = dir
		return cmd
	case "python":
		if out, err := exec.Command("python3", "-c", "import openai").CombinedOutput(); err != nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			skip(t, "python snippet: python3 cannot import openai (%v: %s)", err, lines[len(lines)-1])
		}
		return exec.Command("python3", filepath.Join("testdata", "sdk", sn.file))
	}
	t.Fatalf("no runner for snippet %s", sn.name)
	return nil
}

// The sidecar's own refusals tell the SDKs whether to retry: a 429 can
// pass once its window moves (with Retry-After), a 402 cannot.
func TestRetryGuidanceThroughSDK(t *testing.T) {
	s := startStack(t)
	capped := route{"rpm_cap": 1, "strategy": "cheapest"}
	mustChat(t, s, rpmKey, "cpen/low", capped)
	e := apiError(t, s, rpmKey, "cpen/low", capped)
	if e.StatusCode != 429 || e.Response.Header.Get("x-should-retry") != "true" || e.Response.Header.Get("retry-after") == "" {
		t.Errorf("429: status %d, x-should-retry %q, retry-after %q; want 429, true and a Retry-After",
			e.StatusCode, e.Response.Header.Get("x-should-retry"), e.Response.Header.Get("retry-after"))
	}
	e = apiError(t, s, errorsKey, "cpen/middle", route{"max_total_per_1m": "0.01"})
	if e.StatusCode != 402 || e.Response.Header.Get("x-should-retry") != "false" {
		t.Errorf("402: status %d, x-should-retry %q; want 402 and false", e.StatusCode, e.Response.Header.Get("x-should-retry"))
	}
	// A provider's own error passes as the provider sent it: no guidance
	// is added to it.
	s.provA.Script(mockReply(500, `{"error":{"message":"boom","type":"server_error","code":"internal"}}`))
	e = apiError(t, s, errorsKey, "cpen/middle", route{"strategy": "cheapest"})
	if e.StatusCode != 500 || e.Response.Header.Values("x-should-retry") != nil {
		t.Errorf("provider 500: status %d, x-should-retry %q; want 500 and no header", e.StatusCode, e.Response.Header.Values("x-should-retry"))
	}
}

// rejected reads cpen_requests_rejected_total for one code from the admin
// listener; 0 before the first such refusal.
func (s *sidecar) rejected(code string) int {
	return s.counter(`cpen_requests_rejected_total{code="` + code + `"}`)
}
