package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// errEmptyModel refuses a flag value that names no model: it would match
// requests without a "model", which the provider answers with a 400 anyway.
var errEmptyModel = errors.New("empty model name")

// modelList collects the values of a repeatable --fail-model.
type modelList []string

func (l *modelList) String() string { return strings.Join(*l, ",") }

func (l *modelList) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errEmptyModel
	}
	*l = append(*l, v)
	return nil
}

// slowModels collects repeatable --slow-model MODEL=DURATION values; a later
// value for the same model wins.
type slowModels map[string]time.Duration

func (s slowModels) String() string {
	parts := make([]string, 0, len(s))
	for m, d := range s {
		parts = append(parts, m+"="+d.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (s slowModels) Set(v string) error {
	// The model is cut at the last "=", so model names may hold one.
	i := strings.LastIndex(v, "=")
	if i < 0 {
		return fmt.Errorf("%q is not MODEL=DURATION", v)
	}
	model, dur := v[:i], v[i+1:]
	if strings.TrimSpace(model) == "" {
		return errEmptyModel
	}
	d, err := time.ParseDuration(dur)
	if err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("duration %s is not positive", dur)
	}
	s[model] = d
	return nil
}
