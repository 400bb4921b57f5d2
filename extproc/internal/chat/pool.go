package chat

import "github.com/cpen/router/extproc/internal/stream"

var (
	_ stream.Processor = (*chat)(nil)
	_ stream.Processor = extraction{}
)

// Keyed makes the processors of POST /v1/chat/completions.
func Keyed(cfg *Config) stream.Factory {
	return func(x *stream.Exchange) stream.Processor { return newChat(x, cfg, false) }
}

// Guest makes the processors of the guest playground's chat, which has no
// key and a limit per client address.
func Guest(cfg *Config) stream.Factory {
	return func(x *stream.Exchange) stream.Processor { return newChat(x, cfg, true) }
}

// Extraction makes the processors of POST /v1/extractions.
func Extraction(cfg *Config) stream.Factory {
	return func(x *stream.Exchange) stream.Processor { return extraction{newChat(x, cfg, false)} }
}

// newChat binds a chat processor to x and the catalog version in force:
// the processor a previous chat request parked on this pooled exchange, or
// a new one. Its state is about as large as a request's answers;
// allocating it per request would show on the hot path.
func newChat(x *stream.Exchange, cfg *Config, guest bool) *chat {
	c, ok := x.Parked().(*chat)
	if ok {
		x.Park(nil)
	} else {
		c = new(chat)
	}
	c.x, c.cfg, c.guest = x, cfg, guest
	c.v = cfg.Versions.Load()
	if c.v != nil {
		x.SetBodyLimit(c.v.MaxBody)
	}
	return c
}

// buffers are the new bodies and the cpen_route of a request, kept with
// the processor parked on its pooled exchange: gRPC has serialised them
// before the stream ends.
type buffers struct {
	// req and resp hold the edited bodies: large ones come from, and go
	// back to, the BigBuffers.
	req, resp bigBuf
	route     []byte
	// cost is the receipt's text for the log metadata.
	cost []byte
}

// maxKeptBuffer bounds what a parked processor keeps, so one large body
// does not pin its memory for good.
const maxKeptBuffer = 64 << 10

func (b buffers) reset(big *BigBuffers) buffers {
	keep := func(p bigBuf) bigBuf {
		if cap(p.b) > maxKeptBuffer {
			big.put(p)
			return bigBuf{}
		}
		p.b = p.b[:0]
		return p
	}
	route := b.route[:0]
	if cap(route) > maxKeptBuffer {
		route = nil
	}
	return buffers{req: keep(b.req), resp: keep(b.resp), route: route, cost: b.cost[:0]}
}

// park clears a finished chat processor and leaves it on its exchange for
// the next request, with its buffers.
func (c *chat) park() {
	x := c.x
	// Cleared in place: a composite literal that reads c would be built
	// in a temporary of the processor's size and copied over.
	bufs := c.bufs.reset(c.cfg.Buffers)
	*c = chat{}
	c.bufs = bufs
	x.Park(c)
}
