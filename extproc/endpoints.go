package extproc

// factory makes the processor of one request, bound to its exchange.
type factory func(x *exchange) processor

// endpoints maps a request path, without its query, to the factory of its
// processor. A new endpoint is one processor and one line here.
type endpoints map[string]factory

func (s *Server) newEndpoints() endpoints {
	return endpoints{
		"/v1/chat/completions":            s.chatFactory(false),
		"/playground/v1/chat/completions": s.chatFactory(true),
		"/v1/extractions":                 s.extractionFactory,
		"/v1/status/routes":               localFactory(statusRoutes),
		"/v1/billing/status":              localFactory(billingStatus),
		"/health":                         localFactory(healthAnswer),
		"/playground":                     localFactory(playground),
	}
}

// processor makes the processor for path; a path no endpoint serves gets
// a 404.
func (e endpoints) processor(x *exchange, path string) processor {
	if f, ok := e[path]; ok {
		return f(x)
	}
	return &local{x: x, answer: notFound}
}
