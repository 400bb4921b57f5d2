package extproc

import (
	"os"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cpen/router/config"
)

// A provider that names no key source is logged once, at info level; one
// whose named source is empty still gets a warning.
func TestApplyLogsProviderKeys(t *testing.T) {
	cat, err := config.LoadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cat.Providers[0].APIKeyEnv != "PROV_A_KEY" || cat.Providers[1].Name != "prov_b" {
		t.Fatalf("testdata/catalog.yaml providers changed: %+v", cat.Providers)
	}
	cat.Providers[1].APIKeyEnv = "" // prov_b: no key source at all

	core, logs := observer.New(zapcore.InfoLevel)
	s := NewServer(zap.New(core), nil, WithEnv(func(string) string { return "" }, os.ReadFile))
	t.Cleanup(s.Close)
	if err := s.Apply(cat); err != nil {
		t.Fatal(err)
	}

	warns := logs.FilterMessage("provider key").All()
	if len(warns) != 1 || warns[0].Level != zapcore.WarnLevel ||
		warns[0].ContextMap()["problem"] != "provider prov_a: no API key (set env PROV_A_KEY); its requests go out without one" {
		t.Errorf("provider key warnings: %+v", warns)
	}
	infos := logs.FilterMessage("providers without an API key: their requests go out without one").All()
	if len(infos) != 1 || infos[0].Level != zapcore.InfoLevel {
		t.Fatalf("keyless lines: %+v", infos)
	}
	got, _ := infos[0].ContextMap()["providers"].([]any)
	if len(got) != 1 || got[0] != "prov_b" {
		t.Errorf("keyless providers %v, want [prov_b]", infos[0].ContextMap()["providers"])
	}
}
