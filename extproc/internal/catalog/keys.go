package catalog

import (
	"bytes"
	"crypto/sha256"

	"github.com/cpen/router/config"
)

// keyPrefix starts every client key; anything else is refused unhashed.
const keyPrefix = "cpen_live_"

// Authenticate finds the key for an Authorization header value. Only the
// hash is compared; the key itself is never kept or logged.
func (v *Version) Authenticate(auth []byte) (*config.Key, bool) {
	const bearer = "bearer "
	if len(auth) <= len(bearer) || !bytes.EqualFold(auth[:len(bearer)], []byte(bearer)) {
		return nil, false
	}
	secret := bytes.TrimSpace(auth[len(bearer):])
	if !bytes.HasPrefix(secret, []byte(keyPrefix)) || len(secret) > 256 {
		return nil, false
	}
	k, ok := v.keys[sha256.Sum256(secret)]
	return k, ok
}
