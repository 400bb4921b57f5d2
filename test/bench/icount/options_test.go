package icount

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cpen/router/test/bench/load"
)

func jobNames(jobs []job) string {
	var parts []string
	for _, j := range jobs {
		parts = append(parts, j.bodies.Name)
	}
	return strings.Join(parts, ",")
}

func TestParseOptions(t *testing.T) {
	small := counts{warmup: 200, short: 200, long: 3000}
	mid := counts{warmup: 20, short: 40, long: 400}
	large := counts{warmup: 10, short: 20, long: 200}
	tests := []struct {
		name   string
		args   []string
		bodies string
		counts []counts
		key    string
	}{
		{name: "defaults", bodies: "default,req200k,resp1m", counts: []counts{small, mid, large}, key: load.UnlimitedKey},
		{name: "counts by body size", args: []string{"--bodies", "resp200k, req1m"}, bodies: "resp200k,req1m",
			counts: []counts{mid, large}, key: load.UnlimitedKey},
		{name: "counts given", args: []string{"--bodies", "default,resp1m", "--warmup-requests", "0", "--short-requests", "5", "--long-requests", "9"},
			bodies: "default,resp1m", counts: []counts{{0, 5, 9}, {0, 5, 9}}, key: load.UnlimitedKey},
		{name: "long only", args: []string{"--bodies", "default", "--long-requests", "201"}, bodies: "default",
			counts: []counts{{200, 200, 201}}, key: load.UnlimitedKey},
		{name: "key with credit", args: []string{"--bodies", "default", "--key", load.DefaultKey}, bodies: "default",
			counts: []counts{small}, key: load.DefaultKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := jobNames(o.jobs); got != tt.bodies {
				t.Errorf("bodies %s, want %s", got, tt.bodies)
			}
			for i, j := range o.jobs {
				if i < len(tt.counts) && j.n != tt.counts[i] {
					t.Errorf("%s: counts %+v, want %+v", j.bodies.Name, j.n, tt.counts[i])
				}
			}
			if o.key != tt.key || o.concurrency != 8 || o.conns != 2 || o.settle != 3*time.Second || o.json || o.keep != "" || o.cacheSim {
				t.Errorf("options %+v", o)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
	}{
		{"unknown body set", []string{"--bodies", "huge"}, load.ErrUnknownBodySet},
		{"no body set", []string{"--bodies", " , "}, ErrUsage},
		{"body set twice", []string{"--bodies", "default,default"}, ErrUsage},
		{"long not longer", []string{"--short-requests", "50", "--long-requests", "50"}, ErrUsage},
		{"long below the default short", []string{"--bodies", "default", "--long-requests", "100"}, ErrUsage},
		{"negative count", []string{"--long-requests", "-5"}, ErrUsage},
		{"negative warmup", []string{"--warmup-requests", "-2"}, ErrUsage},
		{"no concurrency", []string{"--concurrency", "0"}, ErrUsage},
		{"no connection", []string{"--conns", "0"}, ErrUsage},
		{"negative settle", []string{"--settle", "-1s"}, ErrUsage},
		{"no start timeout", []string{"--start-timeout", "0s"}, ErrUsage},
		{"empty key", []string{"--key", ""}, ErrUsage},
		{"stray argument", []string{"default"}, ErrUsage},
		{"unknown flag", []string{"--bogus", "x"}, nil},
		{"help", []string{"-h"}, flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestParseOptionsCacheSim(t *testing.T) {
	o, err := parseOptions([]string{"--cache-sim", "--bodies", "default", "--concurrency", "16", "--conns", "4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.cacheSim || o.concurrency != 16 || o.conns != 4 || jobNames(o.jobs) != "default" {
		t.Errorf("options %+v", o)
	}
}
