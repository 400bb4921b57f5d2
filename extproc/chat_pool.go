package extproc

// chatFactory makes the processors of a chat endpoint: keyed, or the
// guest playground's.
func (s *Server) chatFactory(guest bool) factory {
	return func(x *exchange) processor { return s.newChat(x, guest) }
}

// extractionFactory makes the processor of one extraction request.
func (s *Server) extractionFactory(x *exchange) processor {
	return extraction{s.newChat(x, false)}
}

// newChat takes a recycled chat processor, or a new one, bound to x.
func (s *Server) newChat(x *exchange, guest bool) *chat {
	c, ok := s.chats.Get().(*chat)
	if !ok {
		c = new(chat)
	}
	c.x, c.guest = x, guest
	return c
}

// recycleChat clears a finished chat processor's state and pools it: the
// state is about as large as a request's answers, and allocating it per
// request would show on the hot path.
func (s *Server) recycleChat(c *chat) {
	*c = chat{}
	s.chats.Put(c)
}
