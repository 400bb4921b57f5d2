package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
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
