package standin

import (
	"io"
	"maps"
	"net/http"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// What a txn keeps for its access log line, and the line itself.

// txnLog is the part of Envoy's StreamInfo the access log reads.
type txnLog struct {
	start time.Time
	// bytesReceived counts the request body bytes read from the client;
	// the upstream transport may read them on its own goroutine.
	bytesReceived atomic.Int64
	bytesSent     int64
	code          int
	flags         respFlags
	cluster       string
	metadata      map[string]*structpb.Struct
	// ended: the whole response went to the client. reset: the stand-in
	// reset the downstream stream itself. Neither means the client left first.
	ended bool
	reset bool
}

// countingBody counts what the request body hands out.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// beginLog starts the stream's clock and counts its request body.
func (t *txn) beginLog() {
	t.log.start = t.p.cfg.Clock()
	if t.r.Body != nil && t.r.Body != http.NoBody {
		t.r.Body = countingBody{ReadCloser: t.r.Body, n: &t.log.bytesReceived}
	}
}

// finish ends the stream: the ext_proc stream closes, then the access log
// line is written, as Envoy logs once the stream is complete.
func (t *txn) finish() {
	t.closeStream()
	if t.p.accessLog == nil {
		return
	}
	if err := t.p.accessLog.write(t.logRecord()); err != nil {
		t.p.logf("standin: %s: %v", t.requestID, err)
	}
}

func (t *txn) logRecord() *logRecord {
	l := &t.log
	flags := l.flags
	if !l.ended && !l.reset && t.ctx.Err() != nil {
		// The client went away before the response ended.
		if t.r.ProtoMajor >= 2 {
			flags |= flagDR
		} else {
			flags |= flagDC
		}
	}
	h := t.reqHeaders
	if h == nil {
		h = &headerMap{}
	}
	return &logRecord{
		start:         l.start,
		duration:      t.p.cfg.Clock().Sub(l.start),
		reqHeaders:    h,
		code:          l.code,
		flags:         flags,
		bytesReceived: l.bytesReceived.Load(),
		bytesSent:     l.bytesSent,
		cluster:       l.cluster,
		metadata:      l.metadata,
	}
}

// mergeLogMetadata is the stream's own copy of the dynamic metadata, merged
// like StreamInfo::setDynamicMetadata: a key replaces the one before it.
func (t *txn) mergeLogMetadata(ns string, s *structpb.Struct) {
	if t.log.metadata == nil {
		t.log.metadata = make(map[string]*structpb.Struct)
	}
	cur, ok := t.log.metadata[ns]
	if !ok {
		cur = &structpb.Struct{Fields: map[string]*structpb.Value{}}
		t.log.metadata[ns] = cur
	}
	maps.Copy(cur.Fields, s.GetFields())
}
