package config

import (
	"crypto/sha256"
	"encoding/hex"
)

// digestLen is how many hex digits of the SHA-256 name a catalog: enough
// to tell versions apart, short enough for a metric label and a log line.
const digestLen = 12

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:digestLen]
}
