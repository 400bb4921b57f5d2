package config

import (
	"io"
	"testing"
)

// The Redis password comes from the flag or CPEN_REDIS_PASSWORD; TLS is a
// boolean like --pprof, refused when it is not one.
func TestRedisCredentialSettings(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		password string
		tls      bool
		err      string
	}{
		{"none", nil, nil, "", false, ""},
		{"password from env", nil, map[string]string{"CPEN_REDIS_PASSWORD": "s3cret"}, "s3cret", false, ""},
		{"flag beats env", []string{"--redis-password", "other"}, map[string]string{"CPEN_REDIS_PASSWORD": "s3cret"}, "other", false, ""},
		{"bare tls", []string{"--redis-tls"}, nil, "", true, ""},
		{"tls env", nil, map[string]string{"CPEN_REDIS_TLS": "true"}, "", true, ""},
		{"tls env bad", nil, map[string]string{"CPEN_REDIS_TLS": "yes"}, "", false, `--redis-tls: "yes" is not true, false, 1 or 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSettings(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.RedisPassword != tc.password || s.RedisTLS != tc.tls {
				t.Errorf("password %q tls %v, want %q %v", s.RedisPassword, s.RedisTLS, tc.password, tc.tls)
			}
		})
	}
}
