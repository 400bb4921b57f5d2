package extproc

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cpen/router/config"
	"github.com/cpen/router/test/redistest"
)

// The sidecar authenticates to a Redis that requires a password; without
// it the same Redis refuses.
func TestRedisPassword(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	ctx := context.Background()
	if err := admin.ConfigSet(ctx, "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		password string
		wantErr  string
	}{{"s3cret", ""}, {"", "NOAUTH"}, {"wrong", "WRONGPASS"}} {
		rdb := redis.NewClient(redisOptions(config.Settings{RedisAddr: srv.Addr, RedisPassword: tc.password}))
		err := rdb.Ping(ctx).Err()
		_ = rdb.Close()
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("password %q: ping %v, want %q", tc.password, err, tc.wantErr)
		}
	}
}

// With --redis-tls the client speaks TLS and checks the server's name.
func TestRedisTLSOptions(t *testing.T) {
	opt := redisOptions(config.Settings{RedisAddr: "redis.internal:6380", RedisTLS: true})
	if opt.TLSConfig == nil || opt.TLSConfig.ServerName != "redis.internal" || opt.TLSConfig.InsecureSkipVerify {
		t.Errorf("TLS config %+v", opt.TLSConfig)
	}
	if opt := redisOptions(config.Settings{RedisAddr: "127.0.0.1:6379"}); opt.TLSConfig != nil {
		t.Errorf("TLS without --redis-tls")
	}
}
