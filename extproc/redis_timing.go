package extproc

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTiming is a go-redis hook that times every command and pipeline
// into cpen_redis_duration_seconds, by command name (evalsha, get, ...):
// a label set bounded by the commands the sidecar sends.
type redisTiming struct{ m *Metrics }

var _ redis.Hook = redisTiming{}

func (redisTiming) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisTiming) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.m.redisTime.WithLabelValues(cmd.Name()).Observe(time.Since(start).Seconds())
		return err
	}
}

func (h redisTiming) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.m.redisTime.WithLabelValues("pipeline").Observe(time.Since(start).Seconds())
		return err
	}
}
