package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// guestHeaders opens a playground chat from addr, with the attribute Envoy
// sends for the downstream peer.
func guestHeaders(addr string) *extprocv3.ProcessingRequest {
	h := &corev3.HeaderMap{}
	for _, kv := range [][2]string{{":method", "POST"}, {":path", "/playground/v1/chat/completions"}, {"content-type", "application/json"}} {
		h.Headers = append(h.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	attrs := &structpb.Struct{Fields: map[string]*structpb.Value{"source.address": structpb.NewStringValue(addr + ":40000")}}
	return &extprocv3.ProcessingRequest{
		Request:    &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: h}},
		Attributes: map[string]*structpb.Struct{"envoy.filters.http.ext_proc": attrs},
	}
}

// nestingBomb is a chat body of exactly size bytes whose messages value is
// one run of opening brackets: legal up to the size limit, and one stack
// frame per byte to a recursive validator.
func nestingBomb(size int) []byte {
	const head = `{"model":"cpen/middle","messages":`
	return []byte(head + strings.Repeat("[", size-len(head)-1) + "}")
}

// sendBomb runs one guest stream: headers, then body as one buffered
// message, and returns the sidecar's answer to the body.
func sendBomb(st extprocv3.ExternalProcessor_ProcessClient, addr string, body []byte) (*extprocv3.ImmediateResponse, error) {
	if err := st.Send(guestHeaders(addr)); err != nil {
		return nil, err
	}
	resp, err := st.Recv()
	if err != nil {
		return nil, err
	}
	if resp.GetRequestHeaders() == nil {
		return nil, fmt.Errorf("headers answered with %v", resp)
	}
	err = st.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: body, EndOfStream: true}}})
	if err != nil {
		return nil, err
	}
	if resp, err = st.Recv(); err != nil {
		return nil, err
	}
	ir := resp.GetImmediateResponse()
	if ir == nil {
		return nil, fmt.Errorf("body answered with %v", resp)
	}
	return ir, nil
}

// Bodies that nest without end are refused with 400 invalid_json before
// any parser recurses into them: sixteen at once, at the largest size the
// catalog allows, leave the sidecar alive and small.
func TestNestedJSONBounded(t *testing.T) {
	const streams = 16
	tests := []struct {
		name    string
		maxBody int // catalog max_body_bytes; 0 keeps the default of 1 MiB
		size    int
		rssCap  int // KiB, for the peak and for what is left after
	}{
		{"1 MiB bodies", 0, 1 << 20, 100 << 10},
		// Sixteen 4 MiB bodies are 64 MiB by themselves, held by gRPC and
		// again as the buffered body; a validator that recursed once per
		// byte would want some 2 GiB of stack for each.
		{"4 MiB bodies", 4 << 20, 4 << 20, 200 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeCatalog(t)
			if tc.maxBody > 0 {
				setMaxBody(t, path, tc.maxBody)
			}
			sc := startSidecar(t, path)
			pid := sc.cmd.Process.Pid
			body := nestingBomb(tc.size)

			// Streams are opened here, since a failure to open one ends the
			// test, which only the test's own goroutine may do.
			sts := make([]extprocv3.ExternalProcessor_ProcessClient, streams)
			for i := range sts {
				sts[i] = rawStream(t, sc)
			}
			var wg sync.WaitGroup
			answers := make([]*extprocv3.ImmediateResponse, streams)
			errs := make([]error, streams)
			for i := range streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					answers[i], errs[i] = sendBomb(sts[i], "198.51.100."+strconv.Itoa(i+1), body)
				}()
			}
			wg.Wait()

			const detail = "Request body nests arrays and objects deeper than 64 levels"
			for i, ir := range answers {
				if errs[i] != nil {
					t.Errorf("stream %d: %v", i, errs[i])
					continue
				}
				var got struct {
					Detail string `json:"detail"`
					Error  struct {
						Code string `json:"code"`
					} `json:"error"`
				}
				if err := json.Unmarshal(ir.GetBody(), &got); err != nil {
					t.Errorf("stream %d: body %q: %v", i, ir.GetBody(), err)
				}
				if ir.GetStatus().GetCode() != typev3.StatusCode_BadRequest || got.Error.Code != "invalid_json" || got.Detail != detail {
					t.Errorf("stream %d: %v %s, want 400 invalid_json %q", i, ir.GetStatus().GetCode(), ir.GetBody(), detail)
				}
			}

			// VmHWM is the peak over the whole run, so it covers the
			// moment all sixteen bodies were held at once.
			peak, now := vmKiB(t, pid, "VmHWM"), vmKiB(t, pid, "VmRSS")
			t.Logf("%d bodies of %d bytes: peak RSS %d KiB, RSS after %d KiB", streams, tc.size, peak, now)
			if peak > tc.rssCap || now > tc.rssCap {
				t.Errorf("peak RSS %d KiB, RSS after %d KiB; want both under %d KiB", peak, now, tc.rssCap)
			}
			if got := adminGet(t, sc, "/readyz"); got != 200 {
				t.Errorf("/readyz after the bodies: %d, want 200", got)
			}
		})
	}
}

// setMaxBody sets max_body_bytes in the catalog file at path.
func setMaxBody(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "max_body_bytes:") {
		t.Fatal("the test catalog already sets max_body_bytes; edit it in place instead")
	}
	b = append([]byte("max_body_bytes: "+strconv.Itoa(n)+"\n"), b...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
