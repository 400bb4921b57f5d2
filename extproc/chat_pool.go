package extproc

// chatFactory makes the processors of a chat endpoint: keyed, or the
// guest playground's.
func (s *Server) chatFactory(guest bool) factory {
	return func(x *exchange) processor { return newChat(x, guest) }
}

// extractionFactory makes the processor of one extraction request.
func (s *Server) extractionFactory(x *exchange) processor {
	return extraction{newChat(x, false)}
}

// newChat binds a chat processor to x: the one a previous chat request
// parked on this pooled exchange, or a new one. Its state is about as
// large as a request's answers; allocating it per request would show on
// the hot path.
func newChat(x *exchange, guest bool) *chat {
	c, ok := x.parked.(*chat)
	if ok {
		x.parked = nil
	} else {
		c = new(chat)
	}
	c.x, c.guest = x, guest
	return c
}

// park clears a finished chat processor and leaves it on its exchange for
// the next request.
func (c *chat) park() {
	x := c.x
	*c = chat{}
	x.parked = c
}
