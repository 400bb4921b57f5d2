package load

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownBodySet is a body set name that BodySets does not know.
var ErrUnknownBodySet = errors.New("unknown body set")

// BodySet is a named pair of request and response bodies.
type BodySet struct {
	Name      string
	Req, Resp []byte
}

// DefaultBodySet names the default bodies, the baseline others are
// compared with.
const DefaultBodySet = "default"

// BodySets are the body sets the benchmarks know, by name. The usual
// matrix is default, req200k and resp1m; req1m and resp200k add a second
// size per direction, so linear growth can be checked within one direction
// (equal marginal cost per MiB at both sizes).
func BodySets() []BodySet {
	return []BodySet{
		{Name: DefaultBodySet, Req: DefaultRequest(), Resp: DefaultResponse()},
		{Name: "req200k", Req: ChatRequest(200 << 10), Resp: DefaultResponse()},
		{Name: "req1m", Req: ChatRequest(1 << 20), Resp: DefaultResponse()}, // the bench catalog's max_body_bytes
		{Name: "resp200k", Req: DefaultRequest(), Resp: ChatResponse(200 << 10)},
		{Name: "resp1m", Req: DefaultRequest(), Resp: ChatResponse(1 << 20)},
	}
}

// FindBodySet returns the body set called name.
func FindBodySet(name string) (BodySet, error) {
	var names []string
	for _, b := range BodySets() {
		if b.Name == name {
			return b, nil
		}
		names = append(names, b.Name)
	}
	return BodySet{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownBodySet, name, strings.Join(names, ", "))
}
