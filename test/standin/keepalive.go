package standin

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"
)

// The ext_proc cluster's connection_keepalive. Envoy's HTTP/2 codec sends a
// PING every interval whatever the traffic, closes the connection when no
// PING ACK arrives within timeout (any other frame received meanwhile
// restarts that wait), and schedules the next PING an interval after the ACK.
// grpc-go's client keepalive cannot stand in for it: it refuses intervals
// under 10 s and backs off after a GOAWAY too_many_pings, where Envoy keeps
// pinging and loses the streams. So the stand-in writes the PING frames
// itself, between gRPC's own frames, on a connection it dials and wraps.
// Envoy adds up to 15 % random jitter to each interval; the stand-in adds
// none, so it never pings less often than Envoy could.

// errProxyClosed refuses dials once Close has started.
var errProxyClosed = errors.New("standin: proxy closed")

// dialExtProc dials the ext_proc server for grpc-go and, with keepalive
// configured, wraps the connection in a pinger owned by the proxy.
func (p *Proxy) dialExtProc(ctx context.Context, target string) (net.Conn, error) {
	network, addr := "tcp", target
	// grpc-go hands a custom dialer unix targets in their original form.
	if rest, ok := strings.CutPrefix(target, "unix://"); ok {
		network, addr = "unix", rest
	} else if rest, ok := strings.CutPrefix(target, "unix:"); ok {
		network, addr = "unix", rest
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if p.cfg.KeepaliveInterval <= 0 {
		return conn, nil
	}
	p.pingMu.Lock()
	defer p.pingMu.Unlock()
	if p.closing {
		_ = conn.Close()
		return nil, errProxyClosed
	}
	pc := &pingConn{
		Conn:     conn,
		stats:    &p.stats,
		out:      newOutboundScanner(),
		in:       &frameScanner{},
		acked:    make(chan struct{}, 1),
		activity: make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	p.pingers.Add(1)
	go func() {
		defer p.pingers.Done()
		pc.run(p.cfg.KeepaliveInterval, p.cfg.KeepaliveTimeout, p.done)
	}()
	return pc, nil
}

// pingConn is the ext_proc connection with Envoy's keepalive. gRPC writes
// through it from one goroutine and reads from another; the pinger inserts
// its PING frames only where a frame boundary lies, under wmu.
type pingConn struct {
	net.Conn
	stats *counters

	wmu         sync.Mutex
	out         *frameScanner // what has been written, under wmu
	pingPending bool          // a PING waits for the frame being written to end
	seq         uint64        // PING payloads, under wmu

	in       *frameScanner // what has been read; only gRPC's reader touches it
	acked    chan struct{} // a PING ACK arrived
	activity chan struct{} // some other frame arrived

	stopOnce sync.Once
	stop     chan struct{}
}

func (c *pingConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for len(b) > 0 {
		n := c.out.advance(b, nil)
		m, err := c.Conn.Write(b[:n])
		written += m
		if err != nil {
			return written, err
		}
		b = b[n:]
		if c.pingPending && c.out.atBoundary() {
			if err := c.writePingLocked(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (c *pingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.in.scan(b[:n], c.onFrame)
	}
	return n, err
}

func (c *pingConn) onFrame(typ, flags byte) {
	ch := c.activity
	if typ == framePing && flags&flagAck != 0 {
		c.stats.keepalivePingsAcked.Add(1)
		ch = c.acked
	}
	select {
	case ch <- struct{}{}:
	default: // one pending signal says it all
	}
}

func (c *pingConn) Close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	return c.Conn.Close()
}

// ping writes a PING now, or as soon as the frame gRPC is writing ends.
func (c *pingConn) ping() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.out.atBoundary() {
		c.pingPending = true
		return nil
	}
	return c.writePingLocked()
}

func (c *pingConn) writePingLocked() error {
	c.pingPending = false
	c.seq++
	if _, err := c.Conn.Write(pingFrame(c.seq)); err != nil {
		return err
	}
	c.stats.keepalivePingsSent.Add(1)
	return nil
}

// run is the keepalive timer pair of Envoy's codec: send every interval
// after the last ACK, and close the connection after timeout without one.
func (c *pingConn) run(interval, timeout time.Duration, proxyDone <-chan struct{}) {
	send := time.NewTimer(interval)
	defer send.Stop()
	wait := time.NewTimer(timeout)
	wait.Stop()
	defer wait.Stop()
	awaiting := false
	for {
		select {
		case <-c.stop:
			return
		case <-proxyDone:
			return
		case <-send.C:
			if err := c.ping(); err != nil {
				return // the connection is broken; gRPC's reader reports it
			}
			awaiting = true
			wait.Reset(timeout)
		case <-c.acked:
			// Any ACK, even one never asked for, re-arms the interval.
			awaiting = false
			wait.Stop()
			send.Reset(interval)
		case <-c.activity:
			if awaiting {
				wait.Reset(timeout)
			}
		case <-wait.C:
			if !awaiting {
				continue
			}
			c.stats.keepaliveTimeouts.Add(1)
			_ = c.Close() // gRPC sees the connection end and fails its streams
			return
		}
	}
}
