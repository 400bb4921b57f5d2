package state

// numShards is the number of independently locked shards of Pins and
// Limiter (a power of two).
const numShards = 64

// shardOf hashes strings with FNV-1a (64-bit) to a shard index, without
// allocating. parts are separated by a zero byte.
func shardOf(parts ...string) int {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i, p := range parts {
		if i > 0 {
			h *= prime // the zero separator byte
		}
		for j := 0; j < len(p); j++ {
			h = (h ^ uint64(p[j])) * prime
		}
	}
	return int(h & (numShards - 1))
}

// sweepBudget bounds how many other entries one write examines for
// expiry, so cleanup cost stays constant per call.
const sweepBudget = 8
