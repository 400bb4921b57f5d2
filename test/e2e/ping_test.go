package e2e

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// A client that opens an ext_proc stream, sends nothing on it, and pings
// the connection every 100 ms for 5 s is answered with PING ACKs and never
// with GOAWAY: grpc-go's default policy would send GOAWAY too_many_pings
// at the fourth ping and close every stream on the connection.
func TestFrequentPingsOnASilentStream(t *testing.T) {
	sc := startSidecar(t, writeCatalog(t))
	conn, err := net.Dial("tcp", sc.grpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", sc.grpcAddr},
		{":path", "/envoy.service.ext_proc.v3.ExternalProcessor/Process"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}

	frames := make(chan http2.Frame)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				readErr <- err
				return
			}
			select {
			case frames <- f:
			case <-done:
				return
			}
		}
	}()
	const pings = 50
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	sent, acked := 0, 0
	for sent < pings || acked < pings {
		select {
		case <-ticker.C:
			if sent < pings {
				sent++
				if err := fr.WritePing(false, [8]byte{byte(sent)}); err != nil {
					t.Fatalf("ping %d: %v", sent, err)
				}
			}
		case f := <-frames:
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v %q after %d pings", f.ErrCode, f.DebugData(), sent)
			case *http2.RSTStreamFrame:
				t.Fatalf("stream reset %v after %d pings", f.ErrCode, sent)
			case *http2.PingFrame:
				if f.IsAck() {
					acked++
				}
			case *http2.SettingsFrame:
				if !f.IsAck() {
					if err := fr.WriteSettingsAck(); err != nil {
						t.Fatal(err)
					}
				}
			}
		case err := <-readErr:
			t.Fatalf("connection closed after %d pings: %v", sent, err)
		}
	}
}
