package extract

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// readTestdata returns testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares got, which must be valid JSON, with testdata/name.
// Goldens are stored indented for review; the comparison is exact
// otherwise, so member order and escaping are checked too.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	var indented bytes.Buffer
	if err := json.Indent(&indented, got, "", "  "); err != nil {
		t.Fatalf("%s: output is not valid JSON: %v\n%s", name, err, got)
	}
	indented.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, indented.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update)", name, err)
	}
	if !bytes.Equal(indented.Bytes(), want) {
		t.Errorf("%s differs from the golden file (run go test -update to accept):\ngot:\n%s\nwant:\n%s", name, indented.Bytes(), want)
	}
}

// parseTestdata parses testdata/extraction.in.json.
func parseTestdata(t testing.TB) *Request {
	t.Helper()
	r, err := ParseRequest(readTestdata(t, "extraction.in.json"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
