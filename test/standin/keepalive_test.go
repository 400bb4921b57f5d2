package standin

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

const pingEvery = 50 * time.Millisecond

// permissive is the enforcement policy a server needs for Envoy's pings.
func permissive() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Millisecond, PermitWithoutStream: true})}
}

// waitStat polls the proxy's counters until cond holds; there is no event to
// wait on for "n PINGs went by".
func waitStat(t *testing.T, p *Proxy, what string, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond(p.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after %s: %+v", what, waitLimit, p.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Checklist 14: Envoy pings the ext_proc server whatever the traffic, and a
// server that punishes that fails the streams it holds.
func TestKeepalive(t *testing.T) {
	// The server holds the request body's answer (until release closes, if
	// the case releases it), so the stream stays open, silent, across the
	// PINGs.
	held := func(release <-chan struct{}, releases bool) []action {
		script := []action{on(kindRequestHeaders, reqHeadersAns(nil)), recvOnly(kindRequestBody)}
		if releases {
			script = append(script, waitFor(release), reply(reqBodyAns(nil)), autoAnswer())
		}
		return script
	}
	tests := []struct {
		name       string
		serverOpts []grpc.ServerOption
		// releaseWhen, if set, lets the server answer once it holds.
		releaseWhen func(Stats) bool
		wantStatus  int
		check       func(t *testing.T, st Stats)
	}{
		{
			// grpc-go's default policy: one PING per 5 minutes. The first PING
			// after the server's last write is free, each later one a strike,
			// and the third strike brings GOAWAY too_many_pings and a closed
			// connection.
			name:       "grpc-go's default enforcement kills the held stream",
			wantStatus: 500,
			check: func(t *testing.T, st Stats) {
				if st.KeepalivePingsSent < 4 || st.StreamsFailed != 1 || st.MessageTimeouts != 0 {
					t.Errorf("stats = %+v, want >= 4 PINGs, one failed stream, no timeout", st)
				}
			},
		},
		{
			name:        "a server that permits the PINGs keeps the stream",
			serverOpts:  permissive(),
			releaseWhen: func(st Stats) bool { return st.KeepalivePingsAcked >= 5 },
			wantStatus:  200,
			check: func(t *testing.T, st Stats) {
				if st.KeepalivePingsAcked < 5 || st.StreamsFailed != 0 || st.KeepaliveTimeouts != 0 {
					t.Errorf("stats = %+v, want >= 5 PINGs acked, no failure", st)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			h := start(t, setup{
				cfg:        Config{KeepaliveInterval: pingEvery, KeepaliveTimeout: time.Second},
				serverOpts: tc.serverOpts,
				scripts:    [][]action{held(release, tc.releaseWhen != nil)},
			})
			released := make(chan struct{})
			go func() {
				defer close(released)
				if tc.releaseWhen == nil {
					return
				}
				deadline := time.Now().Add(waitLimit)
				for !tc.releaseWhen(h.proxy.Stats()) && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				close(release)
			}()
			res := h.post(t, `{"model":"m"}`)
			<-released
			if res.err != nil || res.status != tc.wantStatus {
				t.Fatalf("client got %d %q (%v), want %d", res.status, res.body, res.err, tc.wantStatus)
			}
			h.fake.waitStreams(t, 1)
			tc.check(t, h.proxy.Stats())
		})
	}
}

// The PINGs go on while no request is in flight.
func TestKeepaliveWhileIdle(t *testing.T) {
	h := start(t, setup{
		cfg:        Config{KeepaliveInterval: pingEvery, KeepaliveTimeout: time.Second},
		serverOpts: permissive(),
		scripts:    [][]action{passAll()},
	})
	if res := h.post(t, `{"model":"m"}`); res.status != 200 {
		t.Fatalf("client got %d (%v)", res.status, res.err)
	}
	h.fake.waitStreams(t, 1)
	before := h.proxy.Stats().KeepalivePingsAcked
	waitStat(t, h.proxy, "3 more PINGs acked while idle", func(st Stats) bool { return st.KeepalivePingsAcked >= before+3 })
}

// No PING ACK within the timeout: Envoy closes the connection, and the
// streams on it fail.
func TestKeepaliveTimeout(t *testing.T) {
	h := start(t, setup{
		cfg:        Config{KeepaliveInterval: pingEvery, KeepaliveTimeout: 150 * time.Millisecond},
		serverOpts: permissive(),
		via:        dropPingAcks,
		scripts:    [][]action{{on(kindRequestHeaders, reqHeadersAns(nil)), recvOnly(kindRequestBody)}},
	})
	res := h.post(t, `{"model":"m"}`)
	if res.err != nil || res.status != 500 {
		t.Fatalf("client got %d %q (%v), want 500", res.status, res.body, res.err)
	}
	h.fake.waitStreams(t, 1)
	st := h.proxy.Stats()
	if st.KeepaliveTimeouts != 1 || st.KeepalivePingsSent != 1 || st.KeepalivePingsAcked != 0 || st.StreamsFailed != 1 {
		t.Errorf("stats = %+v, want one unanswered PING, one keepalive timeout, one failed stream", st)
	}
}

// dropPingAcks relays the ext_proc connection but swallows the server's PING
// ACKs, as a server too stuck to answer would.
func dropPingAcks(t *testing.T, target string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := lis.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			track(client)
			track(server)
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(server, client)
				_ = server.Close()
			}()
			go func() {
				defer wg.Done()
				_ = copyFramesDroppingAcks(client, server)
				_ = client.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return lis.Addr().String()
}

func copyFramesDroppingAcks(dst io.Writer, src io.Reader) error {
	hdr := make([]byte, frameHeaderLen)
	for {
		if _, err := io.ReadFull(src, hdr); err != nil {
			return err
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		frame := make([]byte, frameHeaderLen+n)
		copy(frame, hdr)
		if _, err := io.ReadFull(src, frame[frameHeaderLen:]); err != nil {
			return err
		}
		if hdr[3] == framePing && hdr[4]&flagAck != 0 {
			continue
		}
		if _, err := dst.Write(frame); err != nil {
			return err
		}
	}
}

// recordConn keeps what is written to it.
type recordConn struct {
	net.Conn
	buf bytes.Buffer
}

func (c *recordConn) Write(b []byte) (int, error) { return c.buf.Write(b) }

// testFrame encodes a frame of the given type with n payload bytes of fill.
func testFrame(typ byte, n int, fill byte) []byte {
	f := make([]byte, frameHeaderLen+n)
	f[0], f[1], f[2] = byte(n>>16), byte(n>>8), byte(n)
	f[3] = typ
	binary.BigEndian.PutUint32(f[5:], 1)
	for i := frameHeaderLen; i < len(f); i++ {
		f[i] = fill
	}
	return f
}

// A PING asked for in the middle of a frame goes out right after it, whole,
// however gRPC's writes cut the frames.
func TestPingWaitsForFrameBoundary(t *testing.T) {
	data := testFrame(0x0, 20, 'd')
	headers := testFrame(0x1, 5, 'h')
	stream := append(append([]byte(clientPreface), data...), headers...)
	for cut := 1; cut < len(stream); cut++ {
		rec := &recordConn{}
		c := &pingConn{Conn: rec, stats: &counters{}, out: newOutboundScanner()}
		if _, err := c.Write(stream[:cut]); err != nil {
			t.Fatal(err)
		}
		if err := c.ping(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(stream[cut:]); err != nil {
			t.Fatal(err)
		}
		// Where the PING belongs: after the frame in progress at the cut.
		at := len(clientPreface)
		for _, end := range []int{len(clientPreface), len(clientPreface) + len(data), len(stream)} {
			if cut <= end {
				at = end
				break
			}
		}
		want := append(append(append([]byte{}, stream[:at]...), pingFrame(1)...), stream[at:]...)
		if !bytes.Equal(rec.buf.Bytes(), want) {
			t.Fatalf("cut at %d: wrote\n%q\nwant\n%q", cut, rec.buf.Bytes(), want)
		}
		if got := c.stats.keepalivePingsSent.Load(); got != 1 {
			t.Fatalf("cut at %d: %d PINGs counted", cut, got)
		}
	}
}

// The scanner reports the same frame headers however the bytes are split.
func FuzzFrameScanner(f *testing.F) {
	f.Add(append(testFrame(0x4, 6, 0), pingFrame(7)...), 3)
	f.Add(testFrame(0x0, 1<<10, 'x'), 100)
	f.Add([]byte{0, 0}, 1)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		type hdr struct{ typ, flags byte }
		collect := func(pieces ...[]byte) []hdr {
			var got []hdr
			s := &frameScanner{}
			for _, p := range pieces {
				s.scan(p, func(typ, flags byte) { got = append(got, hdr{typ, flags}) })
			}
			return got
		}
		if cut < 0 {
			cut = -cut
		}
		if len(b) > 0 {
			cut %= len(b) + 1
		} else {
			cut = 0
		}
		whole, split := collect(b), collect(b[:cut], b[cut:])
		if len(whole) != len(split) {
			t.Fatalf("%d headers whole, %d split at %d", len(whole), len(split), cut)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("header %d: %v whole, %v split", i, whole[i], split[i])
			}
		}
	})
}
