package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--extproc", "127.0.0.1:1", "--cluster", "a=http://127.0.0.1:2"}, pw, io.Discard)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // keep the pipe drained
	if !strings.Contains(line, "Go stand-in for Envoy (not Envoy)") {
		t.Errorf("banner = %q", line)
	}
	addr := regexp.MustCompile(`http://[0-9.:]+`).FindString(line)
	// No ext_proc server listens: fail closed, like failure_mode_allow: false.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Get(addr + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500 with no ext_proc server", resp.StatusCode)
	}
	// codec_type AUTO: HTTP/2 without TLS is served too.
	h2c := &http.Protocols{}
	h2c.SetUnencryptedHTTP2(true)
	h2Client := &http.Client{Transport: &http.Transport{Protocols: h2c}, Timeout: 10 * time.Second}
	resp, err = h2Client.Get(addr + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	h2Client.CloseIdleConnections()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("HTTP/2 request: %s %d, want HTTP/2 and 500", resp.Proto, resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}

func TestRunFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "bad cluster", args: []string{"--cluster", "nourl"}},
		{name: "bad cluster url", args: []string{"--cluster", "a=127.0.0.1:2"}},
		{name: "stray argument", args: []string{"extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := run(context.Background(), tc.args, io.Discard, io.Discard); err == nil {
				t.Fatal("run succeeded, want an error")
			}
		})
	}
}

// --access-log appends one JSON line per request in envoy.yaml's format;
// "-" puts the lines on stdout and the banner on stderr.
func TestRunWritesAccessLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	tests := []struct {
		name string
		flag string
		// lines returns what was logged once run has returned.
		lines func(stdout string) string
		// bannerOnStdout: where to find the listener's address.
		bannerOnStdout bool
	}{
		{name: "to a file", flag: path, bannerOnStdout: true, lines: func(string) string {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}},
		{name: "to stdout", flag: "-", lines: func(stdout string) string { return stdout }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			outR, outW := io.Pipe()
			errR, errW := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--extproc", "127.0.0.1:1", "--access-log", tc.flag}, outW, errW)
				_ = outW.Close()
				_ = errW.Close()
			}()
			bannerSrc, otherSrc := errR, outR
			if tc.bannerOnStdout {
				bannerSrc, otherSrc = outR, errR
			}
			bannerReader := bufio.NewReader(bannerSrc)
			banner, err := bannerReader.ReadString('\n')
			if err != nil {
				t.Fatalf("no banner: %v", err)
			}
			// Both pipes are drained until run returns; stdout is kept.
			var stdout strings.Builder
			copied := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(io.Discard, bannerReader); copied <- struct{}{} }()
			go func() {
				dst := io.Writer(&stdout)
				if tc.bannerOnStdout {
					dst = io.Discard // stderr
				}
				_, _ = io.Copy(dst, otherSrc)
				copied <- struct{}{}
			}()
			addr := regexp.MustCompile(`http://[0-9.:]+`).FindString(banner)
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			resp, err := client.Get(addr + "/v1/models")
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
			<-copied
			<-copied
			got := tc.lines(stdout.String())
			if strings.Count(got, "\n") != 1 {
				t.Fatalf("access log %q, want one line", got)
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(got), &line); err != nil {
				t.Fatalf("access log line %q: %v", got, err)
			}
			// No ext_proc server: Envoy's fail-closed 500, nothing from the sidecar.
			if line["response_code"] != float64(500) || line["method"] != "GET" || line["path"] != "/v1/models" ||
				line["upstream_cluster"] != nil || line["cpen_status"] != nil {
				t.Errorf("access log line %v", line)
			}
		})
	}
}
